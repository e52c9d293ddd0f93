"""Metrics every family is scored with, from labels and P(positive)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn import metrics

from reception.progress import Progress

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


def thread_cv_scores(frame: pd.DataFrame, fit_and_score, progress: str | None = None) -> pd.DataFrame:
    """Out-of-fold scores by thread: for each `fold` of `frame`, fit on the other folds, score this one.

    `fit_and_score(train_mask, held_out_mask)` returns P(positive) for the held-out rows, in order.
    Returns comment_id, split ("thread_cv"), fold, score: the rows evaluate reads as thread_cv.*.
    `progress`: a label under which the folds done, their rate and an ETA go to stderr (reception.progress).
    """
    parts, names = [], sorted(frame["fold"].unique())
    counter = Progress(progress, len(names), "thread folds") if progress else None
    for fold in names:
        held_out = (frame["fold"] == fold).to_numpy()
        scores = np.asarray(fit_and_score(~held_out, held_out), dtype="float64")
        parts.append(pd.DataFrame({"comment_id": frame.loc[held_out, "comment_id"].to_numpy(), "split": "thread_cv",
                                   "fold": int(fold), "score": scores}))
        if counter:
            counter.advance()
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
    Each thread's ROC-AUC is the Mann-Whitney statistic of its comments' ranks within the thread (average
    ranks: a tie counts 1/2, as in sklearn's roc_auc_score), all threads in one grouped pass.
    """
    rows = pd.DataFrame({"thread": np.asarray(threads), "y": np.asarray(y_true).astype(int),
                         "score": np.asarray(score, dtype="float64")})
    rows["positive_rank"] = rows.groupby("thread")["score"].rank(method="average") * rows["y"]
    by_thread = rows.groupby("thread")
    positives = by_thread["y"].sum()
    negatives = by_thread["y"].size() - positives
    both = (positives > 0) & (negatives > 0)
    p, n = positives[both], negatives[both]
    aucs = (by_thread["positive_rank"].sum()[both] - p * (p + 1) / 2) / (p * n)
    return {"mean": float(aucs.mean()) if len(aucs) else float("nan"), "threads": int(both.sum())}


def long_threads(threads: np.ndarray, min_comments: int) -> np.ndarray:
    """The threads (post_ids) among `threads`, one entry per labelled comment, with at least `min_comments`
    comments: the threads long enough for the order of their comments to matter."""
    names, counts = np.unique(np.asarray(threads), return_counts=True)
    return names[counts >= min_comments]


RESAMPLES, LEVEL = 1000, 0.95
DRAW_CHUNK = 100  # resamples drawn at once: bounds the memory of the counts, never changes the draws
CELLS = 1_000_000  # (distinct scores of a fold) x resamples summed at once by the vectorised ROC-AUC


def thread_resample_counts(n_threads: int, seed: int, resamples: int = RESAMPLES):
    """Yields arrays of shape (resamples in the chunk, n_threads): for each resample, how often each thread
    is drawn when n_threads threads are drawn with replacement (multinomial counts). Seeded: every statistic
    resampled with one seed sees the same draws, so the difference of two such statistics is paired."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, DRAW_CHUNK):
        size = min(DRAW_CHUNK, resamples - start)
        draws = rng.integers(0, n_threads, size=(size, n_threads)) + np.arange(size)[:, None] * n_threads
        yield np.bincount(draws.ravel(), minlength=size * n_threads).reshape(size, n_threads)


def thread_index(threads: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of threads, each row's thread as 0..n-1 in sorted thread order): how the draws name threads."""
    names, index = np.unique(np.asarray(threads), return_inverse=True)
    return len(names), index.ravel()


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> dict:
    """The percentile interval of the resampled `values`; NaN ones (a resample where the statistic is
    undefined) are dropped, and `resamples` counts those kept."""
    values = np.asarray(values, dtype="float64")
    values = values[~np.isnan(values)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail]) if len(values) else (float("nan"), float("nan"))
    return {"low": float(low), "high": float(high), "level": level, "resamples": int(len(values))}


def thread_bootstrap_interval(statistic, threads: np.ndarray, seed: int, resamples: int = RESAMPLES,
                              level: float = LEVEL) -> dict:
    """A percentile interval of `statistic(rows)` over resamples of whole threads (with replacement).

    Threads, not comments, are the unit a new thread is drawn from, and comments of one thread are not
    independent, so the resampling keeps each thread's comments together. `statistic` takes row indices
    (a thread drawn twice contributes its rows twice); resamples where it is NaN (say, no fold with both
    classes) are dropped and the count kept says so. Seeded: the same inputs give the same interval, drawn
    as resampled_fold_roc_auc draws (one Python call per resample: the reference for any statistic).
    """
    n_threads, index = thread_index(threads)
    order = np.argsort(index, kind="stable")
    rows_of = np.split(order, np.cumsum(np.bincount(index, minlength=n_threads))[:-1])
    values = [statistic(np.concatenate([np.tile(rows_of[t], c) for t, c in enumerate(drawn) if c]))
              for counts in thread_resample_counts(n_threads, seed, resamples) for drawn in counts]
    return percentile_interval(np.asarray(values, dtype="float64"), level)


def rank_tables(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray, index: np.ndarray,
                n_threads: int) -> list[tuple[sparse.csr_matrix, sparse.csr_matrix]]:
    """Per fold: two sparse matrices, (ranks of the fold's scores, ascending) x threads, counting the
    positive and the negative comments of each thread at each rank: one sort of the scores per fold.

    A rank is a distinct score, except that consecutive distinct scores holding one and the same class
    share a rank: no comment of the other class lies between or at them, so every pair keeps its order."""
    tables = []
    for fold in np.unique(folds):
        rows = folds == fold
        distinct, group = np.unique(score[rows], return_inverse=True)
        group, thread, label = group.ravel(), index[rows], y_true[rows]
        positives = np.bincount(group, weights=label, minlength=len(distinct))
        negatives = np.bincount(group, weights=1 - label, minlength=len(distinct))
        single = np.where(negatives == 0, 1, np.where(positives == 0, 0, -1))  # -1: both classes
        starts = np.ones(len(distinct), dtype=bool)
        starts[1:] = (single[1:] == -1) | (single[1:] != single[:-1])
        rank, shape = (np.cumsum(starts) - 1)[group], (int(starts.sum()), n_threads)
        # one entry per comment; entries of one thread at one rank add up
        tables.append(tuple(sparse.csr_matrix((np.ones(int(of_class.sum())), (rank[of_class], thread[of_class])),
                                              shape=shape) for of_class in (label == 1, label == 0)))
    return tables


def weighted_roc_auc(positive: sparse.csr_matrix, negative: sparse.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC of one fold under each column of thread `weights` (threads x resamples): the share of
    (positive, negative) pairs, each weighted by its threads' weights, where the positive scores higher,
    a tie counting 1/2; NaN where the weights leave one class. Equal to roc_auc_score on the rows repeated
    as often as their thread is drawn."""
    aucs = np.empty(weights.shape[1])
    step = max(1, CELLS // max(positive.shape[0], 1))
    for start in range(0, weights.shape[1], step):
        w = np.ascontiguousarray(weights[:, start:start + step])
        # weighted comments of each class at each rank, one resample per column; Fortran order keeps
        # each column's ranks together for the running sum down the ranks
        pos, neg = np.asfortranarray(positive @ w), np.asfortranarray(negative @ w)
        below = np.cumsum(neg, axis=0)  # negatives at or below each rank
        wins = np.einsum("ij,ij->j", pos, below) - np.einsum("ij,ij->j", pos, neg) / 2  # a tie counts 1/2
        pairs = pos.sum(axis=0) * below[-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            aucs[start:start + step] = np.where(pairs > 0, wins / pairs, np.nan)
    return aucs


def resampled_fold_roc_auc(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray, threads: np.ndarray,
                           seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """fold_roc_auc of each resample of whole threads (thread_resample_counts(seed)), NaN where no fold of
    the resample holds both classes: the statistic thread_bootstrap_interval would compute on the rows of
    the drawn threads, each as often as drawn, computed as a weighted ROC-AUC per fold for a chunk of
    resamples at once."""
    y_true, score, folds = np.asarray(y_true).astype(int), np.asarray(score, dtype="float64"), np.asarray(folds)
    n_threads, index = thread_index(threads)
    tables = rank_tables(y_true, score, folds, index, n_threads)
    chunks = []
    for counts in thread_resample_counts(n_threads, seed, resamples):
        weights = np.ascontiguousarray(counts.T, dtype="float64")
        per_fold = np.vstack([weighted_roc_auc(positive, negative, weights) for positive, negative in tables])
        defined = ~np.isnan(per_fold)
        kept = defined.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            chunks.append(np.where(kept > 0, np.where(defined, per_fold, 0.0).sum(axis=0) / kept, np.nan))
    return np.concatenate(chunks) if chunks else np.empty(0)


def fold_roc_auc_interval(y_true: np.ndarray, score: np.ndarray, folds: np.ndarray, threads: np.ndarray,
                          seed: int, resamples: int = RESAMPLES) -> dict:
    """95 % interval over threads of the thread-CV ROC-AUC (fold mean): each resample keeps every thread's
    fold, so it is the same statistic on another draw of threads."""
    return percentile_interval(resampled_fold_roc_auc(y_true, score, folds, threads, seed, resamples))


def paired_difference(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, folds: np.ndarray,
                      resampled_a: np.ndarray, resampled_b: np.ndarray) -> dict:
    """The fold-mean ROC-AUC of a minus b and the interval of that difference, from each score's
    resampled_fold_roc_auc drawn with one seed (so both see the same threads in every resample)."""
    difference = fold_roc_auc(np.asarray(y_true).astype(int), np.asarray(score_a, dtype="float64"), folds) - \
        fold_roc_auc(np.asarray(y_true).astype(int), np.asarray(score_b, dtype="float64"), folds)
    return {"difference": float(difference), **percentile_interval(np.asarray(resampled_a) - resampled_b)}


def paired_difference_interval(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, folds: np.ndarray,
                               threads: np.ndarray, seed: int, resamples: int = RESAMPLES) -> dict:
    """The fold-mean ROC-AUC of score_a minus score_b on the same rows, and its 95 % interval over threads:
    each resample draws whole threads once and scores both on them (paired), so what the two scores share
    (which threads were easy) cancels out of the difference.
    Returns {"difference", "low", "high", "level", "resamples"}."""
    folds = np.asarray(folds)
    return paired_difference(y_true, score_a, score_b, folds,
                             resampled_fold_roc_auc(y_true, score_a, folds, threads, seed, resamples),
                             resampled_fold_roc_auc(y_true, score_b, folds, threads, seed, resamples))


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


def thread_cv_quality(y_true: np.ndarray, score: np.ndarray, threads: np.ndarray,
                      resampled_roc_auc: np.ndarray) -> dict:
    """What evaluate adds to the fold mean of out-of-fold thread-CV scores: the within-thread ROC-AUC, the
    95 % interval over threads of the fold-mean ROC-AUC (from its resampled_fold_roc_auc, which evaluate
    reuses for the paired differences), and how calibrated the probabilities are."""
    return {"within_thread_roc_auc": within_thread_roc_auc(y_true, score, threads),
            "roc_auc_interval": percentile_interval(resampled_roc_auc),
            "brier": brier_score(y_true, score), "ece": expected_calibration_error(y_true, score)}
