"""train: fit the best HPO configuration on train; save the pipeline and its val/test predictions.

Writes models/mlp/classifier.joblib (StandardScaler + MLPClassifier on embeddings) and
data/predictions/mlp_transformer.parquet (comment_id, split, score = P(well received)).
"""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from reception.io import load_params
from reception.mlp import build_mlp, fit_quietly

EMBEDDINGS_DIR, PROCESSED_DIR = Path("data/embeddings"), Path("data/processed")
BEST_PARAMS_FILE = Path("models/mlp/best_params.json")
MODEL_FILE = Path("models/mlp/classifier.joblib")
PREDICTIONS_FILE = Path("data/predictions/mlp_transformer.parquet")


def main() -> None:
    params = load_params("train")
    best = json.loads(BEST_PARAMS_FILE.read_text())
    labels = pd.read_parquet(PROCESSED_DIR / "sentiment_train.parquet", columns=["sentiment"])["sentiment"]
    model = fit_quietly(build_mlp(**best, seed=params["base"]["seed"]), np.load(EMBEDDINGS_DIR / "train.npy"),
                        labels.to_numpy())
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODEL_FILE)

    frames = []
    for split in ("val", "test"):
        ids = pd.read_parquet(PROCESSED_DIR / f"sentiment_{split}.parquet", columns=["comment_id"])["comment_id"]
        scores = model.predict_proba(np.load(EMBEDDINGS_DIR / f"{split}.npy"))[:, 1]
        frames.append(pd.DataFrame({"comment_id": ids, "split": split, "score": scores}))
    PREDICTIONS_FILE.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(PREDICTIONS_FILE, index=False)
    print(f"train: fitted {best} on {len(labels)} comments -> {MODEL_FILE}")


if __name__ == "__main__":
    main()
