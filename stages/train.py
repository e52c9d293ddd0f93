"""train: fit one trained family's best HPO configuration on train, calibrated; save it and its predictions.

Usage: python stages/train.py FAMILY (one `train@FAMILY` stage per entry of params.yaml families.train).

  models/train/<family>/classifier.joblib    the fitted scikit-learn pipeline, Platt-calibrated on its
      out-of-fold scores over the thread folds of train (reception.models.training): a served probability
      means a chance
  data/predictions/train/<family>.parquet    comment_id, split, fold, score = calibrated P(well received)
      for val and test (the served model), and thread_cv: out-of-fold scores on train+val, each thread
      fold scored by a fit on the other folds, calibrated the same way on those folds alone, and chosen
      again inside the fold for a family declared with `nested_evals`
"""
from __future__ import annotations

import json
import sys

import joblib
import pandas as pd

from reception.data.splits import read_embeddings, read_split, read_train_val_folds, train_val_embeddings
from reception.models.evaluation import split_scores
from reception.models.families import declared, feature_matrix
from reception.models.training import served_model, thread_cv_predictions
from reception.params import load_params
from reception.paths import best_params_file, classifier_file, predictions_file


def main() -> None:
    family = declared()[sys.argv[1]]
    seed = load_params("train")["base"]["seed"]
    config = json.loads(best_params_file(family.name).read_text())
    train, embeddings = read_split("train"), read_embeddings("train")
    train_val = read_train_val_folds()
    thread_cv, chosen_by_fold = thread_cv_predictions(family, config, seed, train_val, train_val_embeddings())
    train_folds = train_val["fold"].to_numpy()[:len(train)]  # train rows come first, with their thread folds
    model = served_model(family, config, seed, train, embeddings, train_folds)
    joblib.dump(model, classifier_file(family.name))
    frames = [thread_cv]
    for split in ("val", "test"):
        rows = read_split(split)
        frames.append(split_scores(rows, split, model.predict_proba(
            feature_matrix(family.uses_metadata, family.embedding_of(read_embeddings(split)), rows))[:, 1]))
    out = predictions_file("train", family.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    nested = f"chosen per fold: {json.dumps(chosen_by_fold)}" if family.settings.get("nested_evals") else "not nested"
    print(f"train {family.name}: fitted {config} on {len(train)} comments, calibrated on its thread-CV scores; "
          f"thread_cv over {len(chosen_by_fold)} folds, {nested}")


if __name__ == "__main__":
    main()
