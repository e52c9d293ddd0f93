"""train: fit each embedding family's best HPO configuration on train; save it and its predictions.

Per family (mlp_transformer, hybrid):
  models/<family>/classifier.joblib     the fitted scikit-learn pipeline
  data/predictions/<family>.parquet     comment_id, split, fold, score = P(well received) for
      val and test (fit on train), and thread_cv: out-of-fold scores on train+val, each thread fold
      scored by the same configuration fit on the other folds (evaluate turns them into thread_cv.*)
"""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from reception.evaluation import thread_cv_scores
from reception.families import EMBEDDING_FAMILIES, build, feature_matrix, fit_quietly
from reception.io import load_params, read_embeddings, read_split, read_train_val_folds, train_val_embeddings

MODELS_DIR, PREDICTIONS_DIR = Path("models"), Path("data/predictions")


def train_family(family: str, seed: int, splits: dict[str, tuple[pd.DataFrame, np.ndarray]],
                 train_val: pd.DataFrame, train_val_vectors: np.ndarray) -> None:
    """`splits`: rows and embeddings of train, val and test; train_val: rows with their thread folds."""
    config = json.loads((MODELS_DIR / family / "best_params.json").read_text())
    train, embeddings = splits["train"]
    model = fit_quietly(build(family, config, seed, embeddings.shape[1]),
                        feature_matrix(family, embeddings, train), train["sentiment"].to_numpy())
    joblib.dump(model, MODELS_DIR / family / "classifier.joblib")

    frames = []
    for split in ("val", "test"):
        rows, vectors = splits[split]
        scores = model.predict_proba(feature_matrix(family, vectors, rows))[:, 1]
        frames.append(pd.DataFrame({"comment_id": rows["comment_id"], "split": split, "fold": -1, "score": scores}))
    X, y = feature_matrix(family, train_val_vectors, train_val), train_val["sentiment"].to_numpy()
    frames.append(thread_cv_scores(train_val, lambda fit, held: fit_quietly(
        build(family, config, seed, embeddings.shape[1]), X[fit], y[fit]).predict_proba(X[held])[:, 1]))
    pd.concat(frames, ignore_index=True).to_parquet(PREDICTIONS_DIR / f"{family}.parquet", index=False)
    print(f"train {family}: fitted {config} on {len(train)} comments; thread_cv over "
          f"{train_val['fold'].nunique()} folds")


def main() -> None:
    params = load_params("train")
    PREDICTIONS_DIR.mkdir(parents=True, exist_ok=True)
    splits = {s: (read_split(s), read_embeddings(s)) for s in ("train", "val", "test")}
    train_val, train_val_vectors = read_train_val_folds(), train_val_embeddings()
    for family in EMBEDDING_FAMILIES:
        train_family(family, params["base"]["seed"], splits, train_val, train_val_vectors)


if __name__ == "__main__":
    main()
