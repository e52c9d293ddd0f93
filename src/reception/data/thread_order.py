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
