"""The corpus model on the 15 sample threads: how the champion of `make run-corpus` (six college subreddits,
2014-2018 dumps) ranks the labelled comments of the sample (other subreddits, 2025 API exports), which it
never saw, beside the timing rule (-log(1 + minutes since thread start)) on the same rows.

Each labelled comment of the sample is scored as the service would receive it: its raw body (the registered
model cleans it), created_utc, post_created_utc (the thread's start: the post's time, else the thread's
first comment for the threads whose post is missing), is_top_level, parent_id, and its whole thread as the
request's `thread` (every comment of the thread in the silver table, deleted ones included, as training
builds the thread context; only those written before each comment count). The thread is checked as the
service checks it (reception.serving.thread_request) and scored through the registered model's
score_records, one call for every comment.

Reported: pooled ROC-AUC over the sample's comments (all of them on threads the corpus model never saw) and
the within-thread ROC-AUC (mean over threads holding both classes), each with a 95 % interval over threads
(whole threads resampled), for the model and the rule, and the paired interval of model minus rule; per
thread, its size, its share well received and both within-thread values. The label is relative to each
data set's median score, so the probabilities are not calibrated for the sample: only rankings compare.

Run after `make run` here (the sample's tables) and `make run-corpus` in a checkout (its models/champion):
    .venv/bin/python bench/corpus_on_sample.py --corpus ../corpus-run     Results: bench/corpus_on_sample.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reception.data.features import minutes_since_thread_start
from reception.data.thread_context import CONTEXT_COLUMNS
from reception.models.evaluation import (
    fold_roc_auc,
    fold_roc_auc_interval,
    paired_difference_interval,
    percentile_interval,
    thread_index,
    thread_resample_counts,
    within_thread_roc_auc,
)
from reception.params import all_params
from reception.paths import CHAMPION_DIR, LIVE_COMMENTS, PARAMS_FILE, SILVER_COMMENTS, silver_table, split_file
from reception.serving.thread_request import requests_with_threads

RESULTS = Path("bench/corpus_on_sample.json")
SPLITS = ("train", "val", "test")


def labelled_comments(root: Path) -> pd.DataFrame:
    """Every labelled comment of the sample (all three splits), with its raw body."""
    rows = pd.concat([pd.read_parquet(root / split_file(s)) for s in SPLITS], ignore_index=True)
    bodies = pd.read_parquet(root / LIVE_COMMENTS, columns=["comment_id", "body"])
    return rows.merge(bodies, on="comment_id", how="left", validate="one_to_one")


def context_as_trained(rows: pd.DataFrame, scored: list) -> float:
    """The share of comments whose thread context, as the model derived it from the request's thread, is the
    one the processed table holds (within the 4 decimals inputs_used gives; unknown = unknown)."""
    served = np.array([[np.nan if s.inputs_used[c]["value"] is None else s.inputs_used[c]["value"]
                        for c in CONTEXT_COLUMNS] for s in scored], dtype="float64")
    trained = rows[list(CONTEXT_COLUMNS)].to_numpy(dtype="float64")
    return float(np.isclose(served, trained, rtol=0, atol=1e-4, equal_nan=True).all(axis=1).mean())


def per_thread_roc_auc(y: np.ndarray, score: np.ndarray, threads: np.ndarray) -> np.ndarray:
    """Each thread's within-thread ROC-AUC (NaN for a thread of one class), in sorted thread order."""
    names = np.unique(threads)
    return np.array([within_thread_roc_auc(y[threads == t], score[threads == t], threads[threads == t])["mean"]
                     for t in names])


def resampled_mean(values: np.ndarray, n_threads: int, seed: int) -> np.ndarray:
    """The mean of per-thread `values` (NaN: left out) over each resample of whole threads, the draws of
    thread_resample_counts(seed): the within-thread ROC-AUC on each resample."""
    kept = ~np.isnan(values)
    means = []
    for counts in thread_resample_counts(n_threads, seed):
        weight = counts[:, kept].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append(np.where(weight > 0, counts[:, kept] @ values[kept] / weight, np.nan))
    return np.concatenate(means)


def interval(values: np.ndarray) -> list[float]:
    bounds = percentile_interval(values)
    return [round(bounds["low"], 4), round(bounds["high"], 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="the checkout that ran `make run-corpus`")
    parser.add_argument("--sample", type=Path, default=Path("."), help="the checkout that ran `make run`")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import mlflow

    seed = all_params(args.sample / PARAMS_FILE)["base"]["seed"]
    rows = labelled_comments(args.sample).sort_values(["post_id", "created_utc", "comment_id"], ignore_index=True)
    silver = pd.read_parquet(args.sample / SILVER_COMMENTS)
    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(str(args.corpus / CHAMPION_DIR)).unwrap_python_model()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    records = requests_with_threads(rows, silver)
    scored = model.score_records(records)
    score_s = time.perf_counter() - started
    assert [r["comment_id"] for r in records] == rows["comment_id"].tolist()
    y, threads = rows["well_received"].to_numpy().astype(int), rows["post_id"].astype(str).to_numpy()
    scores = {"corpus_champion": np.array([s.score for s in scored]),
              "timing_rule": -np.log1p(minutes_since_thread_start(rows["created_utc"], rows["thread_start_utc"]))}
    pooled = np.zeros(len(rows), dtype=int)  # one "fold": every sample thread is unseen by the corpus model
    n_threads, _ = thread_index(threads)
    per_thread = {name: per_thread_roc_auc(y, score, threads) for name, score in scores.items()}
    results = {}
    for name, score in scores.items():
        bounds = fold_roc_auc_interval(y, score, pooled, threads, seed)
        within = within_thread_roc_auc(y, score, threads)
        results[name] = {"roc_auc": round(fold_roc_auc(y, score, pooled), 4),
                         "interval": [round(bounds["low"], 4), round(bounds["high"], 4)],
                         "within_thread_roc_auc": round(within["mean"], 4), "within_thread_threads": within["threads"],
                         "within_thread_interval": interval(resampled_mean(per_thread[name], n_threads, seed))}
    results["corpus_champion"]["mean_probability"] = round(float(scores["corpus_champion"].mean()), 4)
    paired = paired_difference_interval(y, scores["corpus_champion"], scores["timing_rule"], pooled, threads, seed)
    within_difference = per_thread["corpus_champion"] - per_thread["timing_rule"]
    names = np.unique(threads)
    listed = silver.groupby("post_id").agg(listed_comments=("comment_id", "size"), post_known=("post_known", "first"),
                                           subreddit=("subreddit", "first"))
    # The post's own count of its comments (the largest listing's), where the post is known: how much of a
    # thread the export holds (the API lists at most 500 comments of a thread).
    posts = pd.read_parquet(args.sample / silver_table("fact_posts"), columns=["id", "num_comments"])
    num_comments = posts.groupby("id")["num_comments"].max()
    labelled = rows.groupby("post_id").agg(labelled=("comment_id", "size"), positive_share=("well_received", "mean"))
    out = {
        "model": {"folder": str(args.corpus / CHAMPION_DIR),
                  **json.loads((args.corpus / CHAMPION_DIR / "artifacts" / "config.json").read_text())},
        "rows": len(rows), "threads": int(n_threads), "positive_share": round(float(y.mean()), 4),
        "threads_without_post": int((~listed["post_known"].astype(bool)).sum()),
        "context_as_trained_share": round(context_as_trained(rows, scored), 4),
        "seconds": {"load": round(load_s, 2), "build_and_score": round(score_s, 2),
                    "per_comment_ms": round(1000 * score_s / len(rows), 3)},
        **results,
        "champion_minus_timing": {
            "roc_auc": round(paired["difference"], 4), "interval": [round(paired["low"], 4), round(paired["high"], 4)],
            "within_thread_roc_auc": round(results["corpus_champion"]["within_thread_roc_auc"]
                                           - results["timing_rule"]["within_thread_roc_auc"], 4),
            "within_thread_interval": interval(resampled_mean(within_difference, n_threads, seed))},
        "per_thread": [{"post_id": t, "subreddit": str(listed.loc[t, "subreddit"]),
                        "post_known": bool(listed.loc[t, "post_known"]),
                        "listed_comments": int(listed.loc[t, "listed_comments"]),
                        "post_num_comments": int(num_comments[t]) if t in num_comments.index else None,
                        "labelled": int(labelled.loc[t, "labelled"]),
                        "positive_share": round(float(labelled.loc[t, "positive_share"]), 3),
                        **{f"{name}_within_thread": None if np.isnan(v[i]) else round(float(v[i]), 4)
                           for name, v in per_thread.items()}}
                       for i, t in enumerate(names)],
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("rows", "threads", "corpus_champion", "timing_rule", "champion_minus_timing",
                                          "seconds")}, indent=2))


if __name__ == "__main__":
    main()
