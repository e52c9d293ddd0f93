"""The champion rule: which family wins, and whether it takes the registered model's alias.

The deciding metric is thread_cv ROC-AUC (mean over the thread folds): users score comments of threads the
model has never seen. A family is eligible only if it predicts each class for at least MIN_CLASS_SHARE of
the comments, on val and across the thread folds, so that no family wins by answering one class. The winner
is the eligible trained family with the best deciding metric. It gets the alias only if it beats every
available baseline on that metric, the 95 % interval over threads of its paired difference to each baseline
(evaluate's paired_differences: both scored on the same thread draws) lies above 0, and it is not worse than the
version holding the alias now (so a weaker queued experiment cannot take it); otherwise the version is tagged
with why not, naming the baseline and the interval.

The challenger against the version holding the alias is judged on the same comments neither was trained on.
Each registered version records the threads (post_id) it was trained on. The threads of the current train+val
data that are not among the holder's arrived after it was trained: neither model was fitted on them (the
challenger's thread-CV scores are out of fold). The holder scores those comments from their raw bodies,
metadata and threads, as a client who sees the page would send them; the challenger's out-of-fold scores sit
beside them. Comparing both on those rows replaces comparing metrics that were computed on different data. The
holder is loaded only after its files match the sha256 `register` recorded in git for that version
(REGISTERED_MODELS; a mismatch stops the registration). Where there are no such rows, the holder recorded no
threads or git records no hashes for it (it is then not loaded at all), the rule falls back to the holder's
deciding metric, computed on the data it was trained on, and says so.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from reception.models import artifact_hashes
from reception.models.evaluation import paired_difference_interval
from reception.models.families import declared
from reception.paths import LIVE_COMMENTS, REGISTERED_MODELS, SILVER_COMMENTS, predictions_file
from reception.serving.thread_request import THREAD_LISTING, requests_with_threads

DECIDING_METRIC, MIN_CLASS_SHARE = "thread_cv_roc_auc_mean", 0.05
TRAINING_THREADS = "training_threads.json"  # the run artifact listing the post_ids the version was trained on
NAMED_THREADS = 10  # thread ids a reason names before pointing at registration.json for the rest


def training_threads(train_val: pd.DataFrame) -> list[str]:
    """The threads a model fitted on these train+val rows has seen, sorted so the record is stable."""
    return sorted(map(str, train_val["post_id"].unique()))


def unseen_rows(train_val: pd.DataFrame, seen_threads: set[str]) -> pd.DataFrame:
    """The train+val rows of threads outside `seen_threads`: arrived since that model was trained."""
    return train_val[~train_val["post_id"].astype(str).isin(seen_threads)].reset_index(drop=True)


def requests(rows: pd.DataFrame, bodies: pd.DataFrame, comments: pd.DataFrame) -> list[dict]:
    """What a client who sees each row's thread sends, in the rows' order: the raw body as `text`, the metadata,
    parent_id and the thread as the page lists it (every comment of `comments`, the silver comments with the
    deleted ones, as training derives the thread context: reception.serving.thread_request.requests_with_threads).
    A holder that reads the thread context is judged on it, not on its no-thread defaults."""
    merged = rows.merge(bodies[["comment_id", "body"]], on="comment_id", how="left", validate="one_to_one")
    if merged["body"].isna().any():
        raise SystemExit("register: some comments of the new threads have no raw body in the live comments")
    records = requests_with_threads(merged, comments)
    return [{**record, "is_submitter": bool(submitter)}
            for record, submitter in zip(records, merged["is_submitter"], strict=True)]


def challenger_scores(rows: pd.DataFrame, predictions: pd.DataFrame) -> np.ndarray:
    """The challenger's out-of-fold thread-CV score of each row, in the rows' order."""
    cv = predictions[predictions["split"] == "thread_cv"][["comment_id", "score"]]
    merged = rows[["comment_id"]].merge(cv, on="comment_id", how="left", validate="one_to_one")
    if merged["score"].isna().any():
        raise SystemExit("register: the challenger has no thread_cv score for some comments of the new threads")
    return merged["score"].to_numpy()


def paired_comparison(y: np.ndarray, challenger: np.ndarray, holder: np.ndarray, threads: np.ndarray,
                      seed: int, resamples: int = 1000) -> dict | None:
    """Both ROC-AUCs on the same rows and a thread-bootstrap interval of their difference (challenger
    minus holder: each resample draws whole threads, the unit new data arrives in). None when the rows
    hold one class only, where ROC-AUC is undefined."""
    y, threads = np.asarray(y).astype(int), np.asarray(threads).astype(str)
    if len(np.unique(y)) < 2:
        return None
    one_fold = np.zeros(len(y), dtype=int)  # the pooled ROC-AUC of every row: one fold
    interval = paired_difference_interval(y, challenger, holder, one_fold, threads, seed, resamples)
    return {"threads": sorted(np.unique(threads).tolist()), "rows": int(len(y)),
            "challenger_roc_auc": round(float(roc_auc_score(y, challenger)), 4),
            "holder_roc_auc": round(float(roc_auc_score(y, holder)), 4),
            "difference_interval": {k: round(v, 4) if isinstance(v, float) else v for k, v in interval.items()
                                    if k != "difference"}}


def single_class(row: dict) -> str | None:
    """Why the family answers (almost) one class, or None."""
    for where in ("val", "thread_cv"):
        share = row[f"{where}_predicted_positive_share"]
        if not MIN_CLASS_SHARE <= share <= 1 - MIN_CLASS_SHARE:
            return f"{row['family']} predicts positive for {share:.1%} of {where} comments (a single class)"
    return None


def pick_winner(rows: list[dict]) -> dict:
    trained = [r for r in rows if r["kind"] == "trained" and r["status"] == "ok"]
    return max(trained, key=lambda r: (single_class(r) is None, r[DECIDING_METRIC]))


def paired_interval(difference: dict) -> str:
    return (f"{difference['difference']:+.4f}, {difference['level']:.0%} paired interval over threads "
            f"{difference['low']:+.4f} to {difference['high']:+.4f}")


def alias_decision(rows: list[dict], winner: dict, current: dict | None = None) -> tuple[bool, str]:
    """(set the alias?, why). The winner's row carries paired_differences (evaluate: per baseline, its
    deciding metric minus the baseline's with the paired interval over threads). `current`: the version
    holding the alias now, with its deciding metric and either `comparison` (paired_comparison of both on
    the same unseen rows) or `fallback` (why there is none)."""
    name, score = winner["family"], winner[DECIDING_METRIC]
    baselines = sorted((r for r in rows if r["status"] == "ok" and r["kind"] == "baseline"),
                       key=lambda r: r["family"])
    best = max(baselines, key=lambda r: r[DECIDING_METRIC])
    if reason := single_class(winner):
        return False, reason
    if score <= best[DECIDING_METRIC]:
        return False, f"{name} {DECIDING_METRIC} {score} does not beat {best['family']} ({best[DECIDING_METRIC]})"
    paired = winner.get("paired_differences", {})
    for baseline in (r["family"] for r in baselines):
        if baseline not in paired:
            return False, f"{name} has no paired difference to {baseline} (re-run evaluate): its lead is unproven"
        if not paired[baseline]["low"] > 0:
            return False, (f"{name} {DECIDING_METRIC} minus {baseline}'s: {paired_interval(paired[baseline])}; "
                           f"the interval does not lie above 0")
    closest = min((r["family"] for r in baselines), key=lambda b: paired[b]["low"])
    beats = (f"{name} {DECIDING_METRIC} {score} beats every baseline (best: {best['family']} "
             f"{best[DECIDING_METRIC]}; the paired interval to each lies above 0, lowest to {closest}: "
             f"{paired_interval(paired[closest])})")
    if current is None:
        return True, beats
    # Against the holder: both ROC-AUCs on the same new rows where there are some, else the deciding metrics
    # each recorded on its own data (and the reason says so).
    if (shared := current.get("comparison")) is not None:
        measure, mine, theirs = "ROC-AUC", shared["challenger_roc_auc"], shared["holder_roc_auc"]
        not_below, basis = f"its ROC-AUC {mine} is not below the current champion's", f" {shared_rows(shared, current)}"
    else:
        measure, mine, theirs = DECIDING_METRIC, score, current["metric"]
        not_below = "not below the current champion"
        basis = f"; compared on metrics of different data: {current.get('fallback', 'no same-data comparison')}"
    holder = f"(version {current['version']}, {theirs})"
    if mine < theirs:
        return False, f"{name} {measure} {mine} is below the current champion {holder}{basis}"
    return True, f"{beats}; {not_below} {holder}{basis}"


def shared_rows(comparison: dict, current: dict) -> str:
    """The rows both models were scored on, in words: counts, the interval of the difference, thread ids."""
    threads, interval = comparison["threads"], comparison["difference_interval"]
    named = ", ".join(threads[:NAMED_THREADS])
    rest = len(threads) - NAMED_THREADS
    more = f" and {rest} more, listed in registration.json" if rest > 0 else ""
    return (f"on the same {comparison['rows']} comments of {len(threads)} threads that arrived since version "
            f"{current['version']} was trained (difference {interval['level']:.0%} interval over threads "
            f"{interval['low']} to {interval['high']}; threads: {named}{more})")


def current_champion(client, name: str, alias: str) -> dict | None:
    """The version holding the alias now: its number, deciding metric and the threads it was trained on
    (None for a version registered before it recorded them)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such model or alias yet
        return None
    # A version registered before this rule has no such tag: nan never blocks the new winner.
    return {"version": str(version.version), "metric": float(version.tags.get(DECIDING_METRIC, "nan")),
            "threads": recorded_threads(client, version.run_id)}


def recorded_threads(client, run_id: str | None) -> set[str] | None:
    """The training threads a registering run logged, or None where it logged none (an older version)."""
    if not run_id or TRAINING_THREADS not in [a.path for a in client.list_artifacts(run_id)]:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return set(json.loads(Path(client.download_artifacts(run_id, TRAINING_THREADS, tmp)).read_text()))


def holder_scores(name: str, version: str, record: dict, records: list[dict]) -> np.ndarray:
    """The registered version's scores of raw-text requests, loaded from the registry as a client would, once
    its files match `record` (its file hashes in git, REGISTERED_MODELS): raises ArtifactMismatch otherwise,
    before anything in it is unpickled."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = artifact_hashes.checked_version(name, version, record, Path(tmp), REGISTERED_MODELS)
        scorer = mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()
        return np.array([scored.score for scored in scorer.score_records(records)], dtype="float64")


def compare_with_holder(current: dict, name: str, family: str, train_val: pd.DataFrame, seed: int) -> dict:
    """{"comparison": ...} of the winner and the holder on the rows of threads the holder was not trained
    on, or {"fallback": why there is no such comparison}."""
    if current["threads"] is None:
        return {"fallback": f"version {current['version']} recorded no training threads"}
    rows = unseen_rows(train_val, current["threads"])
    if rows.empty:
        return {"fallback": f"no thread has arrived since version {current['version']} was trained"}
    record = artifact_hashes.recorded_version(REGISTERED_MODELS, name, current["version"])
    if record is None:  # nothing to check its files against: it is not loaded
        return {"fallback": f"version {current['version']} has no file hashes in {REGISTERED_MODELS} (registered "
                            "elsewhere or before they were recorded), so it was not loaded"}
    challenger = challenger_scores(rows, pd.read_parquet(predictions_file(declared()[family].stage, family)))
    records = requests(rows, pd.read_parquet(LIVE_COMMENTS, columns=["comment_id", "body"]),
                       pd.read_parquet(SILVER_COMMENTS, columns=list(THREAD_LISTING)))
    comparison = paired_comparison(rows["well_received"].to_numpy(), challenger,
                                   holder_scores(name, current["version"], record, records),
                                   rows["post_id"].to_numpy(), seed)
    if comparison is None:
        return {"fallback": f"the {len(rows)} comments of the new threads hold one class only"}
    return {"comparison": comparison}
