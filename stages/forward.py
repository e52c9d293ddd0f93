"""forward: the forward-in-time check, whatever split.strategy is: the newest threads scored by fits on the older.

Every labelled comment (train, val and test) is ordered by its thread's start (the post's time, else the
first comment's; post_id breaks ties, as split.strategy: time orders them). The newest whole threads that
hold `forward.test_share` of the comments are the forward test; every older thread is the forward fit.
Each family refit here is fit on the older threads and scored on the newest:

  trained families with a builder (reception.models.families)  their hpo configuration (models/train/<family>/
      best_params.json), raw scores (calibration keeps the order, so neither ROC-AUC depends on it). hpo
      chose that configuration on train, which may hold comments of the newest threads: slightly optimistic
  majority, timing, timing_rank                          the same rules as the baselines stage
  any other family (TF-IDF, VADER, zero-shot, fine-tuned) is listed as not refit here.

On few threads the forward ROC-AUC mostly measures how the share of well-received comments moves from
thread to thread (base-rate shift), not what a model learnt: the report gives each part's positive share,
each test thread's, and the within-thread ROC-AUC, which no base rate moves.
Writes metrics/forward.json; evaluate adds it to metrics/comparison.md beside the thread CV.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from reception.data.splits import read_embeddings, read_split
from reception.data.thread_order import by_start, summary
from reception.models.baselines import TIMING_RULES, timing_baseline
from reception.models.evaluation import within_thread_roc_auc
from reception.models.families import BUILDERS, build, declared, feature_matrix, fit_quietly
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import best_params_file, stage_metrics

SPLITS = ("train", "val", "test")


def forward_split(frame: pd.DataFrame, test_share: float) -> np.ndarray:
    """True for the rows of the newest threads holding about `test_share` of the rows (at least one thread,
    never every thread): each thread, newest first, joins the test while the test is below its share."""
    threads = by_start(frame)
    if len(threads) < 2:
        raise SystemExit(f"forward: the check needs >= 2 threads, the data has {len(threads)}")
    sizes = frame.groupby("post_id").size()
    newest, rows = [], 0
    for post_id in threads[::-1][:-1]:
        if newest and rows >= test_share * len(frame):
            break
        newest.append(post_id)
        rows += int(sizes[post_id])
    return frame["post_id"].isin(newest).to_numpy()


def rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def scores(y: np.ndarray, score: np.ndarray, threads: np.ndarray) -> dict:
    within = within_thread_roc_auc(y, score, threads)
    return {"roc_auc": rounded(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None,
            "within_thread_roc_auc": rounded(within["mean"]), "within_thread_threads": within["threads"]}


def main() -> None:
    params = load_params("forward")
    seed, test_share = params["base"]["seed"], params["test_share"]
    if not 0 < test_share < 1:
        raise SystemExit(f"forward: forward.test_share must be between 0 and 1, got {test_share}")
    frame = pd.concat([read_split(s) for s in SPLITS], ignore_index=True)
    embeddings = np.vstack([read_embeddings(s) for s in SPLITS])
    newest = forward_split(frame, test_share)
    fit, test = frame[~newest], frame[newest]
    if fit["well_received"].nunique() < 2:
        raise SystemExit("forward: the older threads hold one class only; nothing can be fit on them")
    y, threads = test["well_received"].to_numpy(), test["post_id"].to_numpy()
    families, not_refit = {}, {}
    for name, family in declared().items():
        if family.kind == "trained" and name in BUILDERS:
            config = json.loads(best_params_file(name).read_text())
            X = feature_matrix(family.uses_metadata, embeddings, frame)
            model = fit_quietly(build(name, config, seed, embeddings.shape[1]), X[~newest],
                                fit["well_received"].to_numpy())
            score = model.predict_proba(X[newest])[:, 1]
        elif name == "majority":
            score = np.full(len(test), float(fit["well_received"].mean() >= 0.5))
        elif name in TIMING_RULES:
            score = timing_baseline(name, fit)(test)
        else:
            not_refit[name] = "not refit by forward"
            continue
        families[name] = {"kind": family.kind, **scores(y, score, threads)}
        print(f"forward {name}: {json.dumps(families[name])}")
    per_thread = test.groupby("post_id").agg(rows=("well_received", "size"), positive_share=("well_received", "mean"),
                                             thread_start_utc=("thread_start_utc", "min"))
    report = {"test_share": test_share, "fit": summary(fit), "test": summary(test),
              "test_threads": {str(post_id): {"rows": int(r.rows), "positive_share": round(float(r.positive_share), 4),
                                              "thread_start_utc": float(r.thread_start_utc)}
                               for post_id, r in per_thread.sort_values("thread_start_utc").iterrows()},
              "families": families, "not_refit": not_refit}
    write_json(stage_metrics("forward"), report)


if __name__ == "__main__":
    main()
