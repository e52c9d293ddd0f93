"""train: fit one embedding family's best HPO configuration on train, calibrated; save it and its predictions.

Usage: python stages/train.py FAMILY (one `train@FAMILY` stage per entry of params.yaml families.train).

  models/<family>/classifier.joblib          the fitted scikit-learn pipeline, Platt-calibrated on its
      out-of-fold scores over the thread folds of train (reception.models.calibration): a served probability
      means a chance
  data/predictions/train/<family>.parquet    comment_id, split, fold, score = calibrated P(well received)
      for val and test (the served model), and thread_cv: out-of-fold scores on train+val, each thread
      fold scored by a fit on the other folds, calibrated the same way on those folds alone

Nested: a family declared with `nested_evals` chooses its configuration again inside each outer fold, by
that many TPE trials maximising the thread-CV ROC-AUC over the other folds (each of them an inner fold),
so its thread-CV score never rests on a choice made with the held-out threads. A family that reads
metadata also chooses its feature groups there, by the ablation's rule on the inner folds: a kept group
(reception.data.features.FEATURE_GROUPS) stays if removing it lowers the inner fold mean, a candidate
(CANDIDATE_GROUPS) joins if adding it raises it. The served model reads the kept groups, the choice the
ablation stage checks on every thread. A family without `nested_evals` reuses the hpo configuration in
every fold, which the comparison reads as slightly optimistic.
"""
from __future__ import annotations

import json
import sys

import joblib
import numpy as np
import pandas as pd

from reception.data.features import (
    ALL_FEATURES,
    CANDIDATE_GROUPS,
    FEATURE_GROUPS,
    METADATA_FEATURES,
    ablation_variants,
    feature_columns,
    supported,
)
from reception.data.splits import read_embeddings, read_split, read_train_val_folds, train_val_embeddings
from reception.models.calibration import calibrated_fit
from reception.models.families import build, declared, feature_matrix, fit_quietly
from reception.models.search import thread_cv_roc_auc, tpe_search
from reception.params import load_params
from reception.paths import best_params_file, classifier_file, predictions_file


def choose_groups(make, X: np.ndarray, embedding_dim: int, y: np.ndarray, folds: np.ndarray) -> list[str]:
    """The feature groups the ablation's rule keeps on these rows' thread folds: each kept group whose removal
    lowers the fold-mean ROC-AUC (every kept group if none does: the model needs an input), and each
    candidate whose addition raises it (each against the kept set)."""
    def score(features):
        return thread_cv_roc_auc(make, X[:, feature_columns(features, embedding_dim)], y, folds)

    reference = score(METADATA_FEATURES)
    verdicts = {(variant, group): supported(variant, score(features) - reference)
                for variant, group, features in ablation_variants()}
    kept = [g for g in FEATURE_GROUPS if verdicts["without", g]] or list(FEATURE_GROUPS)
    return kept + [g for g in CANDIDATE_GROUPS if verdicts["with_candidate", g]]


def outer_fold_scores(family, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                      folds: np.ndarray) -> tuple[np.ndarray, dict]:
    """Calibrated out-of-fold P(positive) per row, and the configuration (and feature groups) each outer
    fold used. `X`: the embedding, then (a family reading metadata) ALL_FEATURES."""
    def make(chosen):
        return lambda: build(family.name, chosen, seed, embedding_dim)

    groups = {**FEATURE_GROUPS, **CANDIDATE_GROUPS}
    kept = feature_columns(METADATA_FEATURES, embedding_dim) if family.uses_metadata else list(range(X.shape[1]))
    oof, chosen_by_fold = np.empty(len(y), dtype="float64"), {}
    for fold in np.unique(folds):
        held, chosen, columns, groups_used = folds == fold, config, kept, {}
        if family.settings.get("nested_evals"):
            chosen, _, _ = tpe_search(family.settings["space"], lambda c, fit=~held: {"thread_cv_roc_auc": (
                thread_cv_roc_auc(make(c), X[fit][:, kept], y[fit], folds[fit]))}, "thread_cv_roc_auc",
                family.settings["nested_evals"], seed)
            if family.uses_metadata:
                chosen_groups = choose_groups(make(chosen), X[~held], embedding_dim, y[~held], folds[~held])
                columns = feature_columns([f for g in chosen_groups for f in groups[g]], embedding_dim)
                groups_used = {"feature_groups": chosen_groups}
        chosen_by_fold[str(fold)] = {**chosen, **groups_used}
        oof[held] = calibrated_fit(make(chosen), fit_quietly, X[~held][:, columns], y[~held],
                                   folds[~held]).predict_proba(X[held][:, columns])[:, 1]
    return oof, chosen_by_fold


def main() -> None:
    family = declared()[sys.argv[1]]
    seed = load_params("train")["base"]["seed"]
    config = json.loads(best_params_file(family.name).read_text())
    train, embeddings = read_split("train"), read_embeddings("train")

    train_val, vectors = read_train_val_folds(), train_val_embeddings()
    X = feature_matrix(family.uses_metadata, vectors, train_val, ALL_FEATURES)
    y = train_val["well_received"].to_numpy()
    folds = train_val["fold"].to_numpy()
    scores, chosen_by_fold = outer_fold_scores(family, config, seed, X, vectors.shape[1], y, folds)
    frames = [pd.DataFrame({"comment_id": train_val["comment_id"].to_numpy(), "split": "thread_cv", "fold": folds,
                            "score": scores})]

    train_folds = train_val["fold"].to_numpy()[:len(train)]  # train rows come first, with their thread folds
    model = calibrated_fit(lambda: build(family.name, config, seed, embeddings.shape[1]), fit_quietly,
                           feature_matrix(family.uses_metadata, embeddings, train), train["well_received"].to_numpy(),
                           train_folds)
    joblib.dump(model, classifier_file(family.name))
    for split in ("val", "test"):
        rows = read_split(split)
        scores = model.predict_proba(feature_matrix(family.uses_metadata, read_embeddings(split), rows))[:, 1]
        frames.append(pd.DataFrame({"comment_id": rows["comment_id"], "split": split, "fold": -1, "score": scores}))
    out = predictions_file("train", family.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    nested = f"chosen per fold: {json.dumps(chosen_by_fold)}" if family.settings.get("nested_evals") else "not nested"
    print(f"train {family.name}: fitted {config} on {len(train)} comments, calibrated on its thread-CV scores; "
          f"thread_cv over {len(chosen_by_fold)} folds, {nested}")


if __name__ == "__main__":
    main()
