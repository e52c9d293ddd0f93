"""Held-out views, whatever split.strategy is: families refit on part of every labelled comment (train, val
and test) and scored on the rest, by one refit routine (refit_scores).

  forward                  the newest whole threads scored by fits on the older ones. Threads are ordered by
                           their start (the post's time, else the first comment's; post_id breaks ties, as
                           split.strategy: time orders them); the newest holding `forward.test_share` of the
                           comments are the test (reception.data.thread_order.forward_split).
  leave_one_subreddit_out  each subreddit holding at least `heldout.subreddit_min_threads` long threads (at
                           least `heldout.long_thread_comments` labelled comments) scored by fits on every
                           other subreddit: does what was learnt in some communities carry to another one?

The families refit, each by a fit on the rows outside the held-out part:
  trained families with a builder (reception.models.families)  their hpo configuration (models/train/<family>/
      best_params.json), raw scores (calibration keeps the order, so no ROC-AUC depends on it). hpo chose that
      configuration on train, which may hold comments of the held-out rows: slightly optimistic
  majority, timing, timing_rank                          the same rules as the baselines stage
  any other family (TF-IDF, VADER, zero-shot, fine-tuned) is listed as not refit.

Each view reports per family refit: the ROC-AUC (mean over the held-out parts: one forward, one per subreddit),
the within-thread ROC-AUC (which no thread's base rate moves), the 95 % interval over threads of the ROC-AUC,
and for a trained family the paired difference of its ROC-AUC to each timing rule's (the rules a trained
family must beat to show it learnt more than when the comment was written), with its 95 % interval.
On few threads the forward ROC-AUC mostly measures how the share of well-received comments moves from thread
to thread (base-rate shift), not what a model learnt: the report gives each part's positive share and each
forward test thread's.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from reception.data.splits import StackedEmbeddings
from reception.data.thread_order import summary
from reception.models.baselines import TIMING_RULES, majority, timing_baseline
from reception.models.evaluation import (
    fold_roc_auc,
    long_threads,
    paired_difference,
    percentile_interval,
    resampled_fold_roc_auc,
    within_thread_roc_auc,
)
from reception.models.families import BUILDERS, Family, build, fit_quietly, rows_matrix, scores_in_chunks
from reception.paths import best_params_file
from reception.progress import Progress


def rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def rounded_interval(interval: dict) -> dict:
    return {k: rounded(v) if k in ("difference", "low", "high") else v for k, v in interval.items()}


def part_scorer(name: str, family: Family, frame: pd.DataFrame, embeddings: StackedEmbeddings,
                capped: np.ndarray, seed: int):
    """score(fit, held_out) -> P(positive) of the held-out rows of `frame` by the family fit on the `fit`
    rows (boolean masks), or None for a family no view refits. A trained family fits on the `fit` rows among
    `capped` (the positions its max_rows allows: Family.fit_rows), reads only the embedding rows it uses and
    scores a chunk at a time."""
    y = frame["well_received"].to_numpy()
    if family.kind == "trained" and name in BUILDERS:
        config = json.loads(best_params_file(name).read_text())
        allowed = np.zeros(len(frame), dtype=bool)
        allowed[capped] = True
        dimension = embeddings.shape[1] if family.uses_embedding else 0
        matrix = rows_matrix(family, frame, embeddings.rows)

        def score(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
            fit_at = np.flatnonzero(fit & allowed)
            model = fit_quietly(build(name, config, seed, dimension), matrix(fit_at), y[fit_at])
            return scores_in_chunks(model, matrix, np.flatnonzero(held_out))
        return score
    if name == "majority":
        return lambda fit, held_out: majority(frame[fit])(frame[held_out])
    if name in TIMING_RULES:
        return lambda fit, held_out: timing_baseline(name, frame[fit])(frame[held_out])
    return None


def refit_scores(view: str, families: dict[str, Family], frame: pd.DataFrame, embeddings: StackedEmbeddings,
                 parts: list[np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per family refit: a score for every row of `frame` (rows with `embeddings`) in one of the held-out
    `parts` (disjoint boolean masks), each part scored by a fit on every row outside it, NaN elsewhere; and
    the families not refit, with why."""
    y = frame["well_received"].to_numpy()
    for part in parts:
        if len(np.unique(y[~part])) < 2:
            raise SystemExit(f"{view}: the rows outside a held-out part hold one class only; nothing can be "
                             f"fit on them")
    scores, not_refit = {}, {}
    for name, family in families.items():
        capped = family.fit_rows(frame["post_id"].to_numpy(), seed)
        score_part = part_scorer(name, family, frame, embeddings, capped, seed)
        if score_part is None:
            not_refit[name] = f"not refit by {view}"
            continue
        if len(capped) < len(frame):
            print(f"{view} {name}: fits take the rows of whole threads drawn under max_rows: "
                  f"{json.dumps(family.rows_report(capped, len(frame), seed))}")
        score, progress = np.full(len(frame), np.nan), Progress(f"{view} {name}", len(parts), "held-out parts")
        for part in parts:
            score[part] = score_part(~part, part)
            progress.advance()
        scores[name] = score
    return scores, not_refit


def view_scores(families: dict[str, Family], scores: dict[str, np.ndarray], frame: pd.DataFrame,
                part: np.ndarray, seed: int) -> dict[str, dict]:
    """Per family scored: its ROC-AUC (mean over the parts: `part` numbers each held-out row's part, -1 the
    rows no part holds), within-thread ROC-AUC, the 95 % interval over threads of the ROC-AUC, and for a
    trained family the paired difference to each timing rule (same thread draws for both)."""
    held = part >= 0
    y, threads, part = frame["well_received"].to_numpy()[held], frame["post_id"].to_numpy()[held], part[held]
    resampled = {name: resampled_fold_roc_auc(y, score[held], part, threads, seed) for name, score in scores.items()}
    report = {}
    for name, score in scores.items():
        score = score[held]
        within = within_thread_roc_auc(y, score, threads)
        report[name] = {"kind": families[name].kind, "roc_auc": rounded(fold_roc_auc(y, score, part)),
                        "roc_auc_interval": rounded_interval(percentile_interval(resampled[name])),
                        "within_thread_roc_auc": rounded(within["mean"]), "within_thread_threads": within["threads"]}
        if families[name].kind == "trained":
            report[name]["paired_differences"] = {
                rule: rounded_interval(paired_difference(y, score, scores[rule][held], part, resampled[name],
                                                         resampled[rule]))
                for rule in TIMING_RULES if rule in scores}
        print(f"{name}: {json.dumps(report[name])}")
    return report


def forward_report(families: dict[str, Family], frame: pd.DataFrame, embeddings: StackedEmbeddings, newest: np.ndarray,
                   test_share: float, seed: int) -> dict:
    """Each family refit on the older threads of `frame` (rows with `embeddings`) and scored on the `newest`
    ones, the families not refit, and what each part and each test thread holds."""
    fit, test = frame[~newest], frame[newest]
    scores, not_refit = refit_scores("forward", families, frame, embeddings, [newest], seed)
    scored = view_scores(families, scores, frame, np.where(newest, 0, -1), seed)
    per_thread = test.groupby("post_id").agg(rows=("well_received", "size"), positive_share=("well_received", "mean"),
                                             thread_start_utc=("thread_start_utc", "min"))
    return {"test_share": test_share, "fit": summary(fit), "test": summary(test),
            "test_threads": {str(post_id): {"rows": int(r.rows), "positive_share": round(float(r.positive_share), 4),
                                            "thread_start_utc": float(r.thread_start_utc)}
                             for post_id, r in per_thread.sort_values("thread_start_utc").iterrows()},
            "families": scored, "not_refit": not_refit}


def subreddit_summary(frame: pd.DataFrame, long: np.ndarray) -> pd.DataFrame:
    """Per subreddit: labelled comments, threads, long threads and the share of well-received comments."""
    marked = frame.assign(long_post_id=frame["post_id"].where(frame["post_id"].isin(long)))
    return marked.groupby("subreddit").agg(
        rows=("well_received", "size"), threads=("post_id", "nunique"), long_threads=("long_post_id", "nunique"),
        positive_share=("well_received", "mean"))


def leave_one_subreddit_out_report(families: dict[str, Family], frame: pd.DataFrame, embeddings: StackedEmbeddings,
                                   long_thread_comments: int, subreddit_min_threads: int, seed: int) -> dict:
    """Each eligible subreddit of `frame` (rows with `embeddings`) scored by fits on every other subreddit's
    rows; with fewer than 2 eligible subreddits, a note saying so and no scores."""
    long = long_threads(frame["post_id"].to_numpy(), long_thread_comments)
    per_subreddit = subreddit_summary(frame, long)
    eligible = sorted(per_subreddit.index[per_subreddit["long_threads"] >= subreddit_min_threads])
    report = {"long_thread_comments": long_thread_comments, "subreddit_min_threads": subreddit_min_threads,
              "eligible": eligible,
              "subreddits": {str(name): {"rows": int(r.rows), "threads": int(r.threads),
                                         "long_threads": int(r.long_threads),
                                         "positive_share": round(float(r.positive_share), 4)}
                             for name, r in per_subreddit.iterrows()}}
    if len(eligible) < 2:
        return {**report, "families": {}, "not_refit": {},
                "note": f"{len(eligible)} subreddit(s) of {len(per_subreddit)} hold at least {subreddit_min_threads} "
                        f"threads of >= {long_thread_comments} labelled comments; the view needs 2 or more"}
    subreddit = frame["subreddit"].to_numpy()
    parts = [subreddit == name for name in eligible]
    scores, not_refit = refit_scores("leave_one_subreddit_out", families, frame, embeddings, parts, seed)
    part = np.full(len(frame), -1)
    for number, mask in enumerate(parts):
        part[mask] = number
    scored = view_scores(families, scores, frame, part, seed)
    y = frame["well_received"].to_numpy()
    for name, score in scores.items():
        scored[name]["per_subreddit"] = {
            subreddit_name: rounded(fold_roc_auc(y[mask], score[mask], np.zeros(int(mask.sum()))))
            for subreddit_name, mask in zip(eligible, parts, strict=True)}
    return {**report, "families": scored, "not_refit": not_refit}
