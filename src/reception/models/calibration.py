"""Calibrated P(well received): a family's score mapped to a probability by a fit on scores it did not train on.

ROC-AUC needs only the order of the scores, but the service answers "P = 0.12" and a user reads that as a
chance, so every served score is calibrated. Platt scaling (a logistic regression of the label on the score,
two parameters) keeps the order, so ROC-AUC is unchanged, and stays stable on a few hundred comments, where
isotonic regression would learn steps. The scores it is fit on are out-of-fold by thread, over the thread
folds of the rows the model is fit on: a model scores its own training rows too confidently, and a new
thread is what the served model meets. Inside the thread CV each outer fold is calibrated this way on its
own training folds, with the configuration that fold chose, so no held-out label calibrates its own score
(one map for all folds would mix the scales of the folds' different configurations).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from reception.models.evaluation import out_of_fold_scores

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


def out_of_fold_calibrator(make_model, fit, X, y, folds) -> PlattCalibrator:
    """A Platt map fit on the out-of-fold scores of make_model() over the thread `folds` of these rows (one fit
    per fold, each scoring the fold it left out); `fit(model, X, y)` returns the fitted model."""
    return PlattCalibrator().fit(logit(out_of_fold_scores(make_model, fit, X, y, folds)), y)


def calibrated_fit(make_model, fit, X, y, folds) -> CalibratedModel:
    """make_model() fit on every row by `fit(model, X, y)`, calibrated on its out-of-fold scores over the
    thread `folds` of those rows (one extra fit per fold)."""
    calibrator = out_of_fold_calibrator(make_model, fit, X, y, folds)
    return CalibratedModel(fit(make_model(), X, y), calibrator)
