"""Reading the processed splits, their thread folds and the embed stage's vectors, row-aligned."""
from __future__ import annotations

import numpy as np
import pandas as pd

from reception.paths import THREAD_FOLDS_FILE, embeddings_file, split_file


def read_split(split: str, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.read_parquet(split_file(split), columns=columns)


def read_embeddings(split: str) -> np.ndarray:
    """The embed stage's vectors, one row per row of the split file, in its order."""
    return np.load(embeddings_file(split))


def read_train_val_folds() -> pd.DataFrame:
    """Train then val rows (processed columns + thread `fold`), in the order of train_val_embeddings()."""
    frame = pd.concat([read_split("train"), read_split("val")], ignore_index=True)
    folds = pd.read_parquet(THREAD_FOLDS_FILE, columns=["comment_id", "fold"])
    frame = frame.merge(folds, on="comment_id", how="left", validate="one_to_one")
    if frame["fold"].isna().any():
        raise SystemExit(f"{THREAD_FOLDS_FILE} has no fold for some train/val comments: re-run `dvc repro processed`")
    return frame


def train_val_embeddings() -> np.ndarray:
    return np.vstack([read_embeddings("train"), read_embeddings("val")])
