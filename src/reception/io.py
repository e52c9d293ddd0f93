"""Small helpers every stage uses: its params, a fresh output folder, JSON out, the processed splits."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from reception.paths import PARAMS_FILE, THREAD_FOLDS_FILE, embeddings_file, split_file


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The stage's own section of params.yaml (empty for a stage without params), plus `base`."""
    params = yaml.safe_load(path.read_text())
    return {**(params.get(section) or {}), "base": params.get("base", {})}


def fresh_dir(path: str | Path) -> Path:
    """Empty (or create) a stage's output folder: each run rewrites it completely."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: str | Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


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
