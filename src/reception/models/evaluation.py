"""Metrics every family is scored with, from labels and P(positive)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics

THRESHOLD = 0.5


def label_of(score: float) -> str:
    """The label every answer gives a score: positive at or above THRESHOLD."""
    return "positive" if score >= THRESHOLD else "negative"


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


def out_of_fold_scores(make_model, fit, X, y, folds) -> np.ndarray:
    """P(positive) of each row from make_model() fit by `fit(model, X, y)` on the other `folds` (one fit per
    fold, each scoring the fold it left out)."""
    oof = np.empty(len(y), dtype="float64")
    for fold in np.unique(folds):
        held = folds == fold
        oof[held] = fit(make_model(), X[~held], y[~held]).predict_proba(X[held])[:, 1]
    return oof


def split_scores(rows: pd.DataFrame, split: str, scores) -> pd.DataFrame:
    """comment_id, split, fold (-1: no thread fold), score: a family's scores of a val or test split, as the
    scoring stages write them beside thread_cv_scores."""
    return pd.DataFrame({"comment_id": rows["comment_id"], "split": split, "fold": -1, "score": scores})


def fold_roc_auc(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray) -> float:
    """Mean ROC-AUC over the folds that hold both classes (a fold of one class ranks nothing)."""
    aucs = [metrics.roc_auc_score(y_true[folds == f], score[folds == f]) for f in np.unique(folds)
            if len(np.unique(y_true[folds == f])) == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def within_thread_roc_auc(y_true: np.ndarray, score: np.ndarray, threads: np.ndarray) -> dict:
    """How well a score ranks the comments of one thread, which is what a user choosing what and when to post
    in a given thread needs (the thread-CV ROC-AUC also mixes in how many votes each thread hands out).

    Returns {"mean": the unweighted mean over threads with both classes of the ROC-AUC among that thread's
    comments, "threads": how many threads that is}; a thread of one class ranks nothing and is left out.
    """
    y_true, score, threads = np.asarray(y_true).astype(int), np.asarray(score, dtype="float64"), np.asarray(threads)
    aucs = [metrics.roc_auc_score(y_true[threads == t], score[threads == t]) for t in np.unique(threads)
            if len(np.unique(y_true[threads == t])) == 2]
    return {"mean": float(np.mean(aucs)) if aucs else float("nan"), "threads": len(aucs)}


def thread_bootstrap_interval(statistic, threads: np.ndarray, seed: int, resamples: int = 1000,
                              level: float = 0.95) -> dict:
    """A percentile interval of `statistic(rows)` over resamples of whole threads (with replacement).

    Threads, not comments, are the unit a new thread is drawn from, and comments of one thread are not
    independent, so the resampling keeps each thread's comments together. `statistic` takes row indices
    (a thread drawn twice contributes its rows twice); resamples where it is NaN (say, no fold with both
    classes) are dropped and the count kept says so. Seeded: the same inputs give the same interval.
    """
    threads = np.asarray(threads)
    names = np.unique(threads)
    rows_of = {name: np.flatnonzero(threads == name) for name in names}
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = np.concatenate([rows_of[name] for name in rng.choice(names, size=len(names), replace=True)])
        values.append(statistic(rows))
    values = np.asarray(values, dtype="float64")
    values = values[~np.isnan(values)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (float("nan"), float("nan"))
    return {"low": float(low), "high": float(high), "level": level, "resamples": int(len(values))}


def fold_roc_auc_interval(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray, threads: np.ndarray,
                          seed: int, resamples: int = 1000) -> dict:
    """95 % interval over threads of the thread-CV ROC-AUC (fold mean): each resample keeps every thread's
    fold, so it is the same statistic on another draw of threads."""
    y_true, score, folds = np.asarray(y_true).astype(int), np.asarray(score, dtype="float64"), np.asarray(folds)
    return thread_bootstrap_interval(lambda rows: fold_roc_auc(y_true[rows], score[rows], folds[rows]), threads,
                                     seed, resamples)


CALIBRATION_BINS = 10


def reliability_table(y_true: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Per equal-width bin of P(positive) that holds comments: its range, the mean predicted probability, the
    observed positive share and the count; the data of a reliability diagram (calibrated = on the diagonal)."""
    y_true, score = np.asarray(y_true).astype(int), np.clip(np.asarray(score, dtype="float64"), 0, 1)
    which = np.minimum((score * bins).astype(int), bins - 1)  # P = 1 belongs to the last bin
    table = pd.DataFrame({"bin": which, "predicted": score, "observed": y_true}).groupby("bin").agg(
        mean_predicted=("predicted", "mean"), observed_share=("observed", "mean"), comments=("observed", "size"))
    table = table.reset_index()
    table.insert(1, "bin_low", table["bin"] / bins)
    table.insert(2, "bin_high", (table["bin"] + 1) / bins)
    return table


def expected_calibration_error(y_true: np.ndarray, score: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE: over equal-width bins of P(positive), the comment-weighted mean of |observed share - mean P|."""
    table = reliability_table(y_true, score, bins)
    gaps = (table["observed_share"] - table["mean_predicted"]).abs()
    return float((gaps * table["comments"]).sum() / table["comments"].sum())


def brier_score(y_true: np.ndarray, score: np.ndarray) -> float:
    """Mean squared error of P(positive) against the 0/1 label (0 is perfect, 0.25 a constant 0.5)."""
    return float(metrics.brier_score_loss(np.asarray(y_true).astype(int), np.asarray(score, dtype="float64")))


def thread_cv_quality(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray, threads: np.ndarray,
                      seed: int) -> dict:
    """What evaluate adds to the fold mean of out-of-fold thread-CV scores: the within-thread ROC-AUC, the
    95 % interval over threads of the fold-mean ROC-AUC, and how calibrated the probabilities are."""
    return {"within_thread_roc_auc": within_thread_roc_auc(y_true, score, threads),
            "roc_auc_interval": fold_roc_auc_interval(y_true, score, folds, threads, seed),
            "brier": brier_score(y_true, score), "ece": expected_calibration_error(y_true, score)}
