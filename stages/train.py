"""train: fit one embedding family's best HPO configuration on train; save it and its predictions.

Usage: python stages/train.py FAMILY (one `train@FAMILY` stage per entry of params.yaml families.train).
  models/<family>/classifier.joblib          the fitted scikit-learn pipeline
  data/predictions/train/<family>.parquet    comment_id, split, fold, score = P(well received) for
      val and test (fit on train), and thread_cv: out-of-fold scores on train+val, each thread fold
      scored by the same configuration fit on the other folds (evaluate turns them into thread_cv.*)
"""
from __future__ import annotations

import json
import sys

import joblib
import pandas as pd

from reception.evaluation import thread_cv_scores
from reception.families import build, declared, feature_matrix, fit_quietly
from reception.io import load_params, read_embeddings, read_split, read_train_val_folds, train_val_embeddings
from reception.paths import best_params_file, classifier_file, predictions_file


def main() -> None:
    family = declared()[sys.argv[1]]
    seed = load_params("train")["base"]["seed"]
    config = json.loads(best_params_file(family.name).read_text())
    train, embeddings = read_split("train"), read_embeddings("train")

    def new_model():
        return build(family.name, config, seed, embeddings.shape[1])

    model = fit_quietly(new_model(), feature_matrix(family.uses_metadata, embeddings, train),
                        train["sentiment"].to_numpy())
    joblib.dump(model, classifier_file(family.name))

    frames = []
    for split in ("val", "test"):
        rows = read_split(split)
        scores = model.predict_proba(feature_matrix(family.uses_metadata, read_embeddings(split), rows))[:, 1]
        frames.append(pd.DataFrame({"comment_id": rows["comment_id"], "split": split, "fold": -1, "score": scores}))
    train_val, vectors = read_train_val_folds(), train_val_embeddings()
    X, y = feature_matrix(family.uses_metadata, vectors, train_val), train_val["sentiment"].to_numpy()
    frames.append(thread_cv_scores(train_val, lambda fit, held: fit_quietly(new_model(), X[fit], y[fit]).predict_proba(
        X[held])[:, 1]))
    out = predictions_file("train", family.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    print(f"train {family.name}: fitted {config} on {len(train)} comments; thread_cv over "
          f"{train_val['fold'].nunique()} folds")


if __name__ == "__main__":
    main()
