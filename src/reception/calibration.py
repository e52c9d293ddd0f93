"""Calibrated P(well received): a family's score mapped to a probability by a fit on scores it did not train on.

ROC-AUC needs only the order of the scores, but the service answers "P = 0.12" and a user reads that as a
chance, so every served score is calibrated. Platt scaling (a logistic regression of the label on the score,
two parameters) keeps the order, so ROC-AUC is unchanged, and stays stable on a few hundred comments, where
isotonic regression would learn steps. The scores it is fit on are out-of-fold by thread: a model scores its
own training rows too confidently, and a new thread is what the served model meets.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

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


def inner_thread_folds(y, threads, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) of k folds of whole threads, stratified on the label, seeded; fewer folds
    when there are fewer threads."""
    k = min(k, len(np.unique(threads)))
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, threads))


def out_of_fold_probability(make_model, fit, X, y, folds) -> np.ndarray:
    """P(positive) of every row from a model fit on the other folds; `fit(model, X, y)` fits one."""
    oof = np.empty(len(y), dtype="float64")
    for fit_rows, held_rows in folds:
        oof[held_rows] = fit(make_model(), X[fit_rows], y[fit_rows]).predict_proba(X[held_rows])[:, 1]
    return oof


def fit_calibrated(make_model, fit, X, y, threads, k: int, seed: int) -> CalibratedModel:
    """The model fit on every row, calibrated on out-of-fold scores over k inner thread folds of those rows."""
    oof = out_of_fold_probability(make_model, fit, X, y, inner_thread_folds(y, threads, k, seed))
    return CalibratedModel(fit(make_model(), X, y), PlattCalibrator().fit(logit(oof), y))
