"""Metrics every family is scored with, from labels and P(positive)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

THRESHOLD = 0.5


def classification_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float = THRESHOLD) -> dict:
    """Accuracy, precision, recall, F1, ROC-AUC, MCC and the share predicted positive.

    ROC-AUC of a constant score is 0.5 (it ranks nothing), which is what "always positive" earns.
    """
    y_true, score = np.asarray(y_true).astype(int), np.asarray(score, dtype="float64")
    y_pred = (score >= threshold).astype(int)
    has_both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": float(metrics.roc_auc_score(y_true, score)) if has_both_classes else float("nan"),
        "mcc": float(metrics.matthews_corrcoef(y_true, y_pred)),
        "predicted_positive_share": float(y_pred.mean()),
        "rows": int(len(y_true)),
    }


def thread_cv_scores(frame: pd.DataFrame, fit_and_score) -> pd.DataFrame:
    """Out-of-fold scores by thread: for each `fold` of `frame`, fit on the other folds, score this one.

    `fit_and_score(train_mask, held_out_mask)` returns P(positive) for the held-out rows, in order.
    Returns comment_id, split ("thread_cv"), fold, score: the rows evaluate reads as thread_cv.*.
    """
    parts = []
    for fold in sorted(frame["fold"].unique()):
        held_out = (frame["fold"] == fold).to_numpy()
        scores = np.asarray(fit_and_score(~held_out, held_out), dtype="float64")
        parts.append(pd.DataFrame({"comment_id": frame.loc[held_out, "comment_id"].to_numpy(), "split": "thread_cv",
                                   "fold": int(fold), "score": scores}))
    return pd.concat(parts, ignore_index=True)


def fold_roc_auc(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray) -> float:
    """Mean ROC-AUC over the folds that hold both classes (a fold of one class ranks nothing)."""
    aucs = [metrics.roc_auc_score(y_true[folds == f], score[folds == f]) for f in np.unique(folds)
            if len(np.unique(y_true[folds == f])) == 2]
    return float(np.mean(aucs)) if aucs else float("nan")
