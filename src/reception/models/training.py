"""The train stage's fits of a trained family: the served model, and the thread CV, nested so that its
out-of-fold scores never rest on a choice made with the held-out threads.

The served model is the hpo configuration fit on train, Platt-calibrated on its out-of-fold scores over the
thread folds of train (reception.models.calibration): a served probability means a chance.

A family declared with `nested_evals` chooses its configuration again inside each outer fold, by that many TPE
trials maximising the thread-CV ROC-AUC over the other folds (each of them an inner fold). A family that reads
metadata also chooses its feature groups there, by the ablation's rule on the inner folds
(reception.models.ablation.choose_groups). A family without `nested_evals` reuses the hpo configuration in every
fold, which the comparison reads as slightly optimistic. Each outer fold is calibrated on its own training folds
(reception.models.calibration).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reception.data.features import ALL_FEATURES, CANDIDATE_GROUPS, FEATURE_GROUPS, METADATA_FEATURES, feature_columns
from reception.models.ablation import choose_groups
from reception.models.calibration import CalibratedModel, calibrated_fit
from reception.models.families import Family, build, feature_matrix, fit_quietly
from reception.models.search import thread_cv_roc_auc, tpe_search
from reception.progress import Progress


def outer_fold_scores(family: Family, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                      folds: np.ndarray) -> tuple[np.ndarray, dict]:
    """Calibrated out-of-fold P(positive) per row, and the configuration (and feature groups) each outer
    fold used. `X`: the embedding, then (a family reading metadata) ALL_FEATURES."""
    def make(chosen):
        return lambda: build(family.name, chosen, seed, embedding_dim)

    groups = {**FEATURE_GROUPS, **CANDIDATE_GROUPS}
    kept = feature_columns(METADATA_FEATURES, embedding_dim) if family.uses_metadata else list(range(X.shape[1]))
    oof, chosen_by_fold = np.empty(len(y), dtype="float64"), {}
    progress = Progress(f"train {family.name} thread CV", len(np.unique(folds)), "outer folds")
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
        progress.advance()
    return oof, chosen_by_fold


def thread_cv_predictions(family: Family, config: dict, seed: int, train_val: pd.DataFrame,
                          embeddings: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """comment_id, split ("thread_cv"), fold, score of every train+val row (`embeddings` row-aligned), and the
    configuration each outer fold chose."""
    embeddings = family.embedding_of(embeddings)
    X = feature_matrix(family.uses_metadata, embeddings, train_val, ALL_FEATURES)
    folds = train_val["fold"].to_numpy()
    scores, chosen_by_fold = outer_fold_scores(family, config, seed, X, embeddings.shape[1],
                                               train_val["well_received"].to_numpy(), folds)
    return pd.DataFrame({"comment_id": train_val["comment_id"].to_numpy(), "split": "thread_cv", "fold": folds,
                         "score": scores}), chosen_by_fold


def served_model(family: Family, config: dict, seed: int, train: pd.DataFrame, embeddings: np.ndarray,
                 train_folds: np.ndarray) -> CalibratedModel:
    """The configuration fit on every train row, calibrated on its out-of-fold scores over `train_folds`."""
    embeddings = family.embedding_of(embeddings)
    return calibrated_fit(lambda: build(family.name, config, seed, embeddings.shape[1]), fit_quietly,
                          feature_matrix(family.uses_metadata, embeddings, train), train["well_received"].to_numpy(),
                          train_folds)
