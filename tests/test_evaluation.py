"""Quality metrics beside the thread-CV ROC-AUC: within-thread AUC, bootstrap intervals (the vectorised thread
bootstrap against plain loops over duplicated rows), paired differences, Brier, ECE, reliability."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from reception.models.evaluation import (
    brier_score,
    expected_calibration_error,
    fold_roc_auc,
    fold_roc_auc_interval,
    long_threads,
    paired_difference_interval,
    percentile_interval,
    rank_tables,
    reliability_table,
    resampled_fold_roc_auc,
    thread_bootstrap_interval,
    thread_index,
    thread_resample_counts,
    weighted_roc_auc,
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
    score = np.clip(0.3 + 0.4 * y, 0, 1)
    quality = thread_cv_quality(y, score, threads, resampled_fold_roc_auc(y, score, threads % 3, threads, seed=0))
    assert quality["within_thread_roc_auc"] == {"mean": 1.0, "threads": 6}
    assert quality["roc_auc_interval"]["low"] == 1.0 and quality["brier"] == pytest.approx(0.09)
    assert quality["ece"] == pytest.approx(0.3, abs=0.1)


def cv_data(seed: int, rows: int = 150, decimals: int = 1):
    """Rows of a few threads in 3 folds (fold = thread mod 3), scores rounded so that many tie; thread 0
    (fold 0) holds positives only, so some resamples leave fold 0 with one class."""
    rng = np.random.default_rng(seed)
    threads = rng.integers(0, 11, rows)
    y = np.where(threads == 0, 1, rng.integers(0, 2, rows))
    score = np.round(0.4 * y + rng.normal(0, 0.5, rows), decimals)
    return y, score, threads % 3, np.array([f"t{t}" for t in threads])


def looped_fold_roc_auc(y, score, folds, threads, seed: int, resamples: int) -> np.ndarray:
    """The definition, one resample at a time: the rows of each drawn thread, repeated as often as it is
    drawn, and sklearn's ROC-AUC per fold of those rows."""
    n_threads, index = thread_index(threads)
    values = []
    for counts in thread_resample_counts(n_threads, seed, resamples):
        for drawn in counts:
            rows = np.repeat(np.arange(len(y)), drawn[index])
            values.append(fold_roc_auc(y[rows], score[rows], folds[rows]))
    return np.array(values)


@pytest.mark.parametrize(("seed", "decimals"), [(0, 1), (1, 0), (2, 3)])
def test_vectorised_bootstrap_is_the_loop_over_duplicated_rows(seed, decimals):
    y, score, folds, threads = cv_data(seed, decimals=decimals)
    vectorised = resampled_fold_roc_auc(y, score, folds, threads, seed=seed, resamples=80)
    looped = looped_fold_roc_auc(y, score, folds, threads, seed=seed, resamples=80)
    assert len(vectorised) == 80
    np.testing.assert_allclose(vectorised, looped, rtol=0, atol=1e-12)
    # the generic interval of any statistic draws the same threads
    generic = thread_bootstrap_interval(lambda rows: fold_roc_auc(y[rows], score[rows], folds[rows]), threads,
                                        seed=seed, resamples=80)
    assert fold_roc_auc_interval(y, score, folds, threads, seed=seed, resamples=80) == pytest.approx(generic)


def test_weighted_roc_auc_weighs_pairs_by_their_threads_draws():
    y, score, folds, threads = cv_data(3)
    n_threads, index = thread_index(threads)
    weights = np.random.default_rng(0).integers(0, 4, size=(n_threads, 5)).astype(float)
    weights[:, 0] = 1.0  # every thread once: the plain ROC-AUC
    for fold, (positive, negative) in zip(np.unique(folds), rank_tables(y, score, folds, index, n_threads),
                                          strict=True):
        rows = folds == fold
        expected = [roc_auc_score(y[rows], score[rows], sample_weight=w[index[rows]]) for w in weights.T]
        np.testing.assert_allclose(weighted_roc_auc(positive, negative, weights), expected, atol=1e-12)
    one_class = np.zeros((n_threads, 1))
    one_class[index[threads == "t0"][0]] = 1.0  # only the thread of positives drawn: no pair to rank
    assert np.isnan(weighted_roc_auc(*rank_tables(y, score, np.zeros(len(y)), index, n_threads)[0], one_class)[0])


def test_bootstrap_is_seeded_and_drops_undefined_resamples():
    y, score, folds, threads = cv_data(4)
    first = resampled_fold_roc_auc(y, score, folds, threads, seed=7, resamples=120)
    np.testing.assert_array_equal(first, resampled_fold_roc_auc(y, score, folds, threads, seed=7, resamples=120))
    assert not np.array_equal(first, resampled_fold_roc_auc(y, score, folds, threads, seed=8, resamples=120))
    # one thread of positives, one of negatives: a resample drawing one thread twice ranks nothing
    two = np.array(["a"] * 3 + ["b"] * 3)
    values = resampled_fold_roc_auc(np.array([1, 1, 1, 0, 0, 0]), np.arange(6.0), np.zeros(6), two, 0, 200)
    assert set(np.unique(values[~np.isnan(values)])) == {0.0} and np.isnan(values).any()
    assert percentile_interval(values)["resamples"] == int((~np.isnan(values)).sum())


def test_paired_difference_draws_the_same_threads_for_both_scores():
    y, score, folds, threads = cv_data(5)
    other = np.round(score + np.random.default_rng(1).normal(0, 0.5, len(y)), 1)
    paired = paired_difference_interval(y, score, other, folds, threads, seed=3, resamples=120)
    looped = (looped_fold_roc_auc(y, score, folds, threads, 3, 120)
              - looped_fold_roc_auc(y, other, folds, threads, 3, 120))
    assert paired["difference"] == pytest.approx(fold_roc_auc(y, score, folds) - fold_roc_auc(y, other, folds))
    assert paired["low"] == pytest.approx(np.nanpercentile(looped, 2.5))
    assert paired["high"] == pytest.approx(np.nanpercentile(looped, 97.5))
    assert paired["low"] < paired["difference"] < paired["high"] and paired["resamples"] == (~np.isnan(looped)).sum()
    # a score against itself differs by exactly 0 in every resample; a perfect one against its reverse by 1
    same = paired_difference_interval(y, score, score, folds, threads, seed=3, resamples=50)
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    flipped = paired_difference_interval(y, y + 0.0, 1.0 - y, np.zeros(len(y)), threads, seed=3, resamples=50)
    assert (flipped["difference"], flipped["low"], flipped["high"]) == (1.0, 1.0, 1.0)


def test_within_thread_auc_equals_sklearn_per_thread_with_ties():
    rng = np.random.default_rng(2)
    threads = rng.integers(0, 40, 800)
    y = rng.integers(0, 2, 800)
    score = np.round(0.3 * y + rng.normal(0, 0.4, 800), 1)
    expected = [roc_auc_score(y[threads == t], score[threads == t]) for t in np.unique(threads)
                if len(np.unique(y[threads == t])) == 2]
    result = within_thread_roc_auc(y, score, threads)
    assert result["threads"] == len(expected) and result["mean"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_long_threads_have_at_least_the_given_comments():
    threads = np.array(["a"] * 10 + ["b"] * 9 + ["c"] * 12)
    assert long_threads(threads, 10).tolist() == ["a", "c"]
    assert long_threads(threads, 13).tolist() == []
