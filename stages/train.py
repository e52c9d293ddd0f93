"""train: fit one trained family's best HPO configuration on train, calibrated; save it and its predictions.

Usage: python stages/train.py FAMILY (one `train@FAMILY` stage per entry of params.yaml families.train).

  models/train/<family>/classifier.joblib    the fitted scikit-learn pipeline, Platt-calibrated on its
      out-of-fold scores over the thread folds of train (reception.models.training): a served probability
      means a chance
  data/predictions/train/<family>.parquet    comment_id, split, fold, score = calibrated P(well received)
      for val and test (the served model), and thread_cv: out-of-fold scores on train+val, each thread
      fold scored by a fit on the other folds, calibrated the same way on those folds alone, and chosen
      again inside the fold for a family declared with `nested_evals`
The fits read the splits without the text and only the embedding rows they use (memory-mapped); a family
declared with `max_rows` fits on that many train+val rows at most (whole threads, base.seed; the served model
on the train rows among them), and scores every val and test row a chunk at a time.
"""
from __future__ import annotations

import json
import sys

import joblib
import numpy as np
import pandas as pd

from reception.data.splits import (
    FIT_COLUMNS,
    read_embeddings,
    read_split,
    read_train_val_folds,
    split_length,
    train_val_embeddings,
)
from reception.models.evaluation import split_scores
from reception.models.families import declared, rows_matrix, scores_in_chunks
from reception.models.training import served_model, thread_cv_predictions
from reception.params import load_params
from reception.paths import best_params_file, classifier_file, predictions_file


def main() -> None:
    family = declared()[sys.argv[1]]
    seed = load_params("train")["base"]["seed"]
    config = json.loads(best_params_file(family.name).read_text())
    train_val = read_train_val_folds(FIT_COLUMNS)
    rows = family.fit_rows(train_val["post_id"].to_numpy(), seed)
    fit_rows, embeddings = train_val.iloc[rows].reset_index(drop=True), train_val_embeddings().rows(rows)
    thread_cv, chosen_by_fold = thread_cv_predictions(family, config, seed, fit_rows, embeddings)
    is_train = rows < split_length("train")  # train rows come first, with their thread folds
    train = fit_rows[is_train]
    model = served_model(family, config, seed, train, embeddings[is_train], train["fold"].to_numpy())
    joblib.dump(model, classifier_file(family.name))
    frames = [thread_cv]
    for split in ("val", "test"):
        frame, vectors = read_split(split, FIT_COLUMNS), read_embeddings(split)
        matrix = rows_matrix(family, frame, lambda at, vectors=vectors: vectors[at])
        frames.append(split_scores(frame, split, scores_in_chunks(model, matrix, np.arange(len(frame)))))
    out = predictions_file("train", family.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    nested = f"chosen per fold: {json.dumps(chosen_by_fold)}" if family.settings.get("nested_evals") else "not nested"
    capped = f" (max_rows {family.max_rows}: {len(rows):,} of {len(train_val):,} train+val rows)" \
        if len(rows) < len(train_val) else ""
    print(f"train {family.name}: fitted {config} on {len(train)} comments{capped}, calibrated on its thread-CV "
          f"scores; thread_cv over {len(chosen_by_fold)} folds, {nested}")


if __name__ == "__main__":
    main()
