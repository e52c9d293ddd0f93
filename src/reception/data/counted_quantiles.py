"""Exact quantiles and medians of a column too large to hold, from its value counts.

Dask's quantiles are approximate, and an approximate bound moves the winsorisation and flips labels. The value
counts of a discrete column (the integer score, text lengths, the winsorised score) are small whatever the
number of rows, and they hold every order statistic: these functions return, bit for bit, what pandas'
Series.quantile (linear interpolation) and numpy's median give on the whole column.

Series.quantile takes two paths: a numpy-backed column goes to np.quantile, a pyarrow-backed one (such as the
bronze tables' int64[pyarrow] score) to pyarrow.compute.quantile; their arithmetic differs in the last bits,
so `linear_quantiles` is told which one to reproduce.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def is_arrow_backed(dtype) -> bool:
    """Whether pandas computes this dtype's quantiles with pyarrow (an ArrowDtype column)."""
    return isinstance(dtype, pd.ArrowDtype)


def _order_statistics(counts: pd.Series, positions: np.ndarray) -> np.ndarray:
    """The values at 0-based `positions` of the sorted column whose value counts are `counts`."""
    counts = counts[counts > 0].sort_index()
    ends = np.cumsum(counts.to_numpy(dtype="int64"))  # the position after each value's last row
    return counts.index.to_numpy()[np.searchsorted(ends, positions, side="right")]


def rows_of(counts: pd.Series) -> int:
    return int(counts.sum())


def linear_quantiles(counts: pd.Series, qs, arrow: bool) -> list[float]:
    """Series.quantile(qs) (linear interpolation) of the column whose value counts (value -> rows, no nulls)
    are `counts`; `arrow`: the column is pyarrow-backed (is_arrow_backed(its dtype))."""
    qs = np.asarray(qs, dtype="float64")
    n = rows_of(counts)
    if n == 0:
        return [float("nan")] * len(qs)
    if arrow:  # Arrow's rule: index (n - 1) q, then lower (1 - fraction) + higher fraction, in doubles
        index = (n - 1) * qs
        lower = np.floor(index)
        fraction = index - lower
        below = _order_statistics(counts, lower.astype("int64")).astype("float64")
        above = _order_statistics(counts, np.minimum(lower + 1, n - 1).astype("int64")).astype("float64")
        return [float(v) for v in below * (1 - fraction) + above * fraction]
    # numpy's rule (np.quantile, method="linear"): index (n - 1) q, the last value from n - 1 on, then its
    # two-sided lerp, with the dtypes numpy's arithmetic has (the values' own dtype for their difference).
    virtual = (n - 1) * qs
    previous = np.floor(virtual)
    gamma = virtual - previous
    previous_index = np.where(virtual >= n - 1, n - 1, previous).astype("int64")
    next_index = np.where(virtual >= n - 1, n - 1, previous + 1).astype("int64")
    below, above = _order_statistics(counts, previous_index), _order_statistics(counts, next_index)
    difference = above - below
    result = below + difference * gamma
    result = np.where(gamma >= 0.5, above - difference * (1 - gamma), result)
    return [float(v) for v in result]


def median(counts: pd.Series) -> float:
    """np.median of the column (as float64) whose value counts are `counts`: the middle value, or the mean of
    the two middle ones."""
    n = rows_of(counts)
    if n == 0:
        return float("nan")
    values = _order_statistics(counts, np.array([(n - 1) // 2, n // 2])).astype("float64")
    if n % 2:
        return float(values[0])
    return float(np.add.reduce(values) / 2)
