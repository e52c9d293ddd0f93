"""The challenger against the version holding the alias, on the same comments neither was trained on.

Each registered version records the threads (post_id) it was trained on. The threads of the current
train+val data that are not among the holder's arrived after it was trained: neither model was fitted on
them (the challenger's thread-CV scores are out of fold). The holder scores those comments from their raw
bodies and metadata, as a client would send them; the challenger's out-of-fold scores sit beside them.
Comparing both on those rows replaces comparing metrics that were computed on different data.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from reception.models.evaluation import thread_bootstrap_interval

METADATA = {"created_utc": "created_utc", "thread_start_utc": "post_created_utc", "is_submitter": "is_submitter",
            "is_top_level": "is_top_level"}  # processed column -> the model's input name


def training_threads(train_val: pd.DataFrame) -> list[str]:
    """The threads a model fitted on these train+val rows has seen, sorted so the record is stable."""
    return sorted(map(str, train_val["post_id"].unique()))


def unseen_rows(train_val: pd.DataFrame, seen_threads: set[str]) -> pd.DataFrame:
    """The train+val rows of threads outside `seen_threads`: arrived since that model was trained."""
    return train_val[~train_val["post_id"].astype(str).isin(seen_threads)].reset_index(drop=True)


def requests(rows: pd.DataFrame, bodies: pd.DataFrame) -> list[dict]:
    """What a client sends for each row: the raw body as `text` and the metadata, in the rows' order."""
    merged = rows[["comment_id", *METADATA]].merge(bodies[["comment_id", "body"]], on="comment_id", how="left",
                                                   validate="one_to_one")
    if merged["body"].isna().any():
        raise SystemExit("register: some comments of the new threads have no raw body in the live comments")
    return [{"text": r["body"], "created_utc": float(r["created_utc"]),
             "post_created_utc": float(r["thread_start_utc"]), "is_submitter": bool(r["is_submitter"]),
             "is_top_level": bool(r["is_top_level"])} for r in merged.to_dict("records")]


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

    def difference(rows: np.ndarray) -> float:
        if len(np.unique(y[rows])) < 2:
            return float("nan")
        return roc_auc_score(y[rows], challenger[rows]) - roc_auc_score(y[rows], holder[rows])

    return {"threads": sorted(np.unique(threads).tolist()), "rows": int(len(y)),
            "challenger_roc_auc": round(float(roc_auc_score(y, challenger)), 4),
            "holder_roc_auc": round(float(roc_auc_score(y, holder)), 4),
            "difference_interval": {k: round(v, 4) if isinstance(v, float) else v
                                    for k, v in thread_bootstrap_interval(difference, threads, seed,
                                                                          resamples).items()}}
