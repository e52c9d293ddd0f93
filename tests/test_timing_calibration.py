"""Timing baselines, thread order and Platt calibration inside the CV."""
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from reception.data.features import comments_before
from reception.models.baselines import timing_baseline
from reception.models.calibration import PlattCalibrator, calibrated_fit, logit
from reception.models.evaluation import brier_score, expected_calibration_error


def test_comments_before_is_the_order_in_the_thread():
    comments = pd.DataFrame({"post_id": ["a", "a", "a", "b"], "created_utc": [30.0, 10.0, 20.0, 5.0]})
    assert comments_before(comments).tolist() == [2, 0, 1, 0]


def threads_frame(seed: int = 0, threads: int = 10, per_thread: int = 40) -> pd.DataFrame:
    """Comments whose chance of a good reception falls with their thread age."""
    rng = np.random.default_rng(seed)
    post = np.repeat(np.arange(threads), per_thread)
    created = rng.uniform(0, 36_000, len(post))
    frame = pd.DataFrame({"post_id": post, "created_utc": created, "thread_start_utc": 0.0})
    frame["comments_before"] = comments_before(frame)
    chance = 1 / (1 + np.exp(np.log1p(created / 60) - 4))
    frame["well_received"] = (rng.uniform(size=len(post)) < chance).astype(int)
    return frame


@pytest.mark.parametrize("rule", ["timing", "timing_rank"])
def test_timing_baselines_rank_earlier_higher_and_give_calibrated_probabilities(rule):
    train, test = threads_frame(0), threads_frame(1)
    predict = timing_baseline(rule, train)
    p = predict(test)
    assert ((0 < p) & (p < 1)).all()
    order = np.argsort(test["created_utc"].to_numpy())
    if rule == "timing":
        assert np.all(np.diff(p[order]) <= 1e-12)  # later never scores higher
    assert expected_calibration_error(test["well_received"], p) < 0.1


def test_platt_keeps_the_order_and_fixes_the_scale():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    overconfident = 1 / (1 + np.exp(-6 * (y - 0.5 + rng.normal(0, 1, len(y)))))
    calibrated = PlattCalibrator().fit(logit(overconfident), y).transform(logit(overconfident))
    assert np.all(np.diff(calibrated[np.argsort(overconfident)]) >= 0)  # the order (ROC-AUC) is kept
    assert expected_calibration_error(y, calibrated) < expected_calibration_error(y, overconfident)


def test_calibrated_fit_maps_out_of_fold_scores_to_chances():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(4), 300)
    X = rng.normal(size=(len(folds), 200))  # many noise columns: the raw fit is overconfident
    y = (X[:, 0] + rng.normal(0, 1.5, len(folds)) > 0).astype(int)
    overfit = calibrated_fit(lambda: LogisticRegression(C=100.0), lambda m, X, y: m.fit(X, y), X[:800], y[:800],
                             folds[:800])
    raw = overfit.model.predict_proba(X[800:])[:, 1]
    calibrated = overfit.predict_proba(X[800:])
    assert np.allclose(calibrated.sum(axis=1), 1)
    assert brier_score(y[800:], calibrated[:, 1]) < brier_score(y[800:], raw)
    assert np.all(np.diff(calibrated[np.argsort(raw), 1]) >= 0)  # the order (ROC-AUC) is kept
