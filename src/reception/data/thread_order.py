"""Whole threads as units of data: their order in time, and what a set of them holds. Shared by the time
split of `processed` and the forward check of `forward`, which must order threads the same way."""
from __future__ import annotations

import numpy as np
import pandas as pd


def by_start(frame: pd.DataFrame) -> np.ndarray:
    """The post_ids of `frame`, oldest thread first (thread_start_utc; post_id order breaks ties)."""
    return frame.groupby("post_id")["thread_start_utc"].min().sort_values(kind="stable").index.to_numpy()


def summary(rows: pd.DataFrame) -> dict:
    """Rows, threads, share of well-received comments and the span of thread starts of a set of rows."""
    return {"rows": len(rows), "threads": int(rows["post_id"].nunique()),
            "positive_share": round(float(rows["well_received"].mean()), 4),
            "thread_start_utc": [float(rows["thread_start_utc"].min()), float(rows["thread_start_utc"].max())]}


def forward_split(frame: pd.DataFrame, test_share: float) -> np.ndarray:
    """True for the rows of the newest threads holding about `test_share` of the rows (at least one thread,
    never every thread): each thread, newest first, joins the test while the test is below its share."""
    if not 0 < test_share < 1:
        raise SystemExit(f"forward: forward.test_share must be between 0 and 1, got {test_share}")
    threads = by_start(frame)
    if len(threads) < 2:
        raise SystemExit(f"forward: the check needs >= 2 threads, the data has {len(threads)}")
    sizes = frame.groupby("post_id").size()
    newest, rows = [], 0
    for post_id in threads[::-1][:-1]:
        if newest and rows >= test_share * len(frame):
            break
        newest.append(post_id)
        rows += int(sizes[post_id])
    return frame["post_id"].isin(newest).to_numpy()
