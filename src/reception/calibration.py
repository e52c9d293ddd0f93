"""Calibrated P(well received): a family's score mapped to a probability by a fit on scores it did not train on.

ROC-AUC needs only the order of the scores, but the service answers "P = 0.12" and a user reads that as a
chance, so every served score is calibrated. Platt scaling (a logistic regression of the label on the score,
two parameters) keeps the order, so ROC-AUC is unchanged, and stays stable on a few hundred comments, where
isotonic regression would learn steps. The scores it is fit on are the family's thread-CV out-of-fold
scores: a model scores its own training rows too confidently, and a new thread is what the served model
meets. Inside the CV it is cross-fitted: each fold's scores are calibrated by a map fit on the other folds'
scores and labels only, so no fold's labels calibrate its own scores. This costs no extra model fit (an
inner CV per outer fold would multiply the fits of every family by its inner folds).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

EPSILON = 1e-6


def logit(probability) -> np.ndarray:
    p = np.clip(np.asarray(probability, dtype="float64"), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


class PlattCalibrator:
    """P(positive) = sigmoid(a * score + b), fit by (nearly unregularised) logistic regression."""

    def fit(self, score, y) -> PlattCalibrator:
        self.model = LogisticRegression(C=1e4).fit(np.asarray(score, dtype="float64").reshape(-1, 1), np.asarray(y))
        return self

    @property
    def slope_intercept(self) -> tuple[float, float]:
        return float(self.model.coef_[0, 0]), float(self.model.intercept_[0])

    def transform(self, score) -> np.ndarray:
        return self.model.predict_proba(np.asarray(score, dtype="float64").reshape(-1, 1))[:, 1]


class CalibratedModel:
    """A fitted classifier whose predict_proba is Platt-calibrated on the logit of its own probability; it
    answers predict_proba like the scikit-learn pipeline it wraps, so every caller stays unchanged."""

    def __init__(self, model, calibrator: PlattCalibrator):
        self.model, self.calibrator = model, calibrator

    def raw_logit(self, X) -> np.ndarray:
        return logit(self.model.predict_proba(X)[:, 1])

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibrator.transform(self.raw_logit(X))
        return np.column_stack([1 - p, p])


def cross_fitted(raw_logit, y, folds) -> np.ndarray:
    """Calibrated P(positive) of every row: Platt fit on the rows of the other folds, applied to this fold."""
    raw_logit, y, folds = np.asarray(raw_logit, dtype="float64"), np.asarray(y), np.asarray(folds)
    calibrated = np.empty(len(y), dtype="float64")
    for fold in np.unique(folds):
        held = folds == fold
        calibrated[held] = PlattCalibrator().fit(raw_logit[~held], y[~held]).transform(raw_logit[held])
    return calibrated
