"""Metrics every family is scored with, from labels and P(positive)."""
from __future__ import annotations

import numpy as np
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
