"""The exact quantiles and medians from value counts (reception.data.counted_quantiles) against pandas and numpy
on the whole column: equal bit for bit, on random integer columns with ties, small sizes and both backings."""
import numpy as np
import pandas as pd
import pytest

from reception.data.counted_quantiles import is_arrow_backed, linear_quantiles, median
from reception.data.text import well_received_threshold

QS = [0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0]


def random_columns(seed: int, tries: int):
    rng = np.random.default_rng(seed)
    for _ in range(tries):
        n = int(rng.choice([1, 2, 3, 4, 5, 7, 10, 99, 100, 101, int(rng.integers(1, 3000))]))
        spread = int(rng.choice([1, 3, 20, 1000, 10**9]))  # 1 and 3: nearly every value tied
        yield rng.integers(-spread, spread + 1, n), [*QS, float(rng.random())]


@pytest.mark.parametrize("dtype", ["int64", "int64[pyarrow]"])
def test_linear_quantiles_are_series_quantile_bit_for_bit(dtype):
    for values, qs in random_columns(seed=7, tries=400):
        column = pd.Series(values, dtype=dtype)
        expected = [float(v) for v in column.quantile(qs)]
        got = linear_quantiles(column.value_counts(), qs, arrow=is_arrow_backed(column.dtype))
        assert got == expected, (values.tolist(), qs)


def test_the_two_backings_do_differ_somewhere():
    """Why the rule is chosen by backing: numpy's and Arrow's interpolations give different last bits."""
    differ = 0
    for values, qs in random_columns(seed=11, tries=400):
        numpy_q = pd.Series(values, dtype="int64").quantile(qs).to_numpy(dtype="float64")
        arrow_q = pd.Series(values, dtype="int64[pyarrow]").quantile(qs).to_numpy(dtype="float64")
        differ += int((numpy_q != arrow_q).any())
    assert differ > 0


def test_median_is_the_label_threshold_bit_for_bit():
    """The label rule's threshold (reception.data.text) from value counts is np.median of the whole column."""
    rng = np.random.default_rng(3)
    for values, _ in random_columns(seed=5, tries=400):
        clipped = np.clip(values * rng.random(), *sorted(rng.uniform(-50, 50, 2)))  # floats, ties at the bounds
        column = pd.Series(clipped, dtype="float64")
        assert well_received_threshold(column.value_counts()) == float(np.median(clipped)), clipped.tolist()


def test_an_empty_column_has_no_quantile():
    empty = pd.Series([], dtype="int64").value_counts()
    assert np.isnan(linear_quantiles(empty, [0.5], arrow=False)[0]) and np.isnan(median(empty))
