"""Quality metrics beside the thread-CV ROC-AUC: within-thread AUC, bootstrap interval, Brier, ECE, reliability."""
import numpy as np
import pytest

from reception.models.evaluation import (
    brier_score,
    expected_calibration_error,
    fold_roc_auc,
    fold_roc_auc_interval,
    reliability_table,
    thread_bootstrap_interval,
    within_thread_roc_auc,
)


def test_within_thread_auc_ranks_inside_each_thread_only():
    # Thread a: perfectly ranked; thread b: reversed; thread c: one class, left out.
    y = np.array([0, 1, 1, 0, 1, 1])
    score = np.array([0.1, 0.2, 0.8, 0.9, 0.7, 0.5])
    threads = np.array(["a", "a", "b", "b", "c", "c"])
    assert within_thread_roc_auc(y, score, threads) == {"mean": 0.5, "threads": 2}
    # Pooled, the same scores rank differently: the thread-level offset is what the pooled AUC also judges.
    offset = score + np.where(threads == "b", 10.0, 0.0)
    assert within_thread_roc_auc(y, offset, threads) == within_thread_roc_auc(y, score, threads)


def test_bootstrap_interval_is_seeded_and_brackets_the_statistic():
    rng = np.random.default_rng(0)
    threads = np.repeat(np.arange(12), 20)
    folds = threads % 4
    y = rng.integers(0, 2, len(threads))
    score = y + rng.normal(0, 1.0, len(y))
    point = fold_roc_auc(y, score, folds)
    interval = fold_roc_auc_interval(y, score, folds, threads, seed=1, resamples=200)
    assert interval == fold_roc_auc_interval(y, score, folds, threads, seed=1, resamples=200)
    assert interval["low"] < point < interval["high"] and interval["resamples"] == 200
    # Whole threads are drawn: a statistic counting distinct threads never exceeds the thread count.
    drawn = thread_bootstrap_interval(lambda rows: len(np.unique(threads[rows])), threads, seed=0, resamples=50)
    assert drawn["high"] <= 12


def test_calibration_metrics():
    y = np.array([0, 0, 1, 1])
    assert brier_score(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert brier_score(y, np.full(4, 0.5)) == 0.25
    assert expected_calibration_error(y, np.full(4, 0.5)) == 0.0  # one bin, 50 % observed, 0.5 predicted
    assert expected_calibration_error(y, np.array([0.05, 0.05, 0.05, 0.05])) == pytest.approx(0.45)
    table = reliability_table(np.array([0, 1, 1, 0, 1]), np.array([0.05, 0.15, 0.95, 0.96, 1.0]))
    assert table["bin"].tolist() == [0, 1, 9]  # bins without comments are left out; P = 1 is in the last
    assert table.loc[2, "comments"] == 3 and table.loc[2, "observed_share"] == pytest.approx(2 / 3)
    assert table.loc[2, ["bin_low", "bin_high"]].tolist() == [0.9, 1.0]


def test_thread_cv_quality_gathers_the_views():
    from reception.models.evaluation import thread_cv_quality

    rng = np.random.default_rng(0)
    threads = np.repeat(np.arange(6), 30)
    y = rng.integers(0, 2, len(threads))
    quality = thread_cv_quality(y, np.clip(0.3 + 0.4 * y, 0, 1), threads % 3, threads, seed=0)
    assert quality["within_thread_roc_auc"] == {"mean": 1.0, "threads": 6}
    assert quality["roc_auc_interval"]["low"] == 1.0 and quality["brier"] == pytest.approx(0.09)
    assert quality["ece"] == pytest.approx(0.3, abs=0.1)
