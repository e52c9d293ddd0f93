"""The forward-in-time check, whatever split.strategy is: the newest threads scored by fits on the older.

Every labelled comment (train, val and test) is ordered by its thread's start (the post's time, else the
first comment's; post_id breaks ties, as split.strategy: time orders them). The newest whole threads that
hold `forward.test_share` of the comments are the forward test (reception.data.thread_order.forward_split);
every older thread is the forward fit. Each family refit here is fit on the older threads and scored on the
newest:

  trained families with a builder (reception.models.families)  their hpo configuration (models/train/<family>/
      best_params.json), raw scores (calibration keeps the order, so neither ROC-AUC depends on it). hpo
      chose that configuration on train, which may hold comments of the newest threads: slightly optimistic
  majority, timing, timing_rank                          the same rules as the baselines stage
  any other family (TF-IDF, VADER, zero-shot, fine-tuned) is listed as not refit here.

On few threads the forward ROC-AUC mostly measures how the share of well-received comments moves from
thread to thread (base-rate shift), not what a model learnt: the report gives each part's positive share,
each test thread's, and the within-thread ROC-AUC, which no base rate moves.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from reception.data.thread_order import summary
from reception.models.baselines import TIMING_RULES, majority, timing_baseline
from reception.models.evaluation import within_thread_roc_auc
from reception.models.families import BUILDERS, Family, build, feature_matrix, fit_quietly
from reception.paths import best_params_file


def rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def scores(y: np.ndarray, score: np.ndarray, threads: np.ndarray) -> dict:
    within = within_thread_roc_auc(y, score, threads)
    return {"roc_auc": rounded(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None,
            "within_thread_roc_auc": rounded(within["mean"]), "within_thread_threads": within["threads"]}


def forward_report(families: dict[str, Family], frame: pd.DataFrame, embeddings: np.ndarray, newest: np.ndarray,
                   test_share: float, seed: int) -> dict:
    """Each family refit on the older threads of `frame` (rows with `embeddings`) and scored on the `newest`
    ones, the families not refit, and what each part and each test thread holds."""
    fit, test = frame[~newest], frame[newest]
    if fit["well_received"].nunique() < 2:
        raise SystemExit("forward: the older threads hold one class only; nothing can be fit on them")
    y, threads = test["well_received"].to_numpy(), test["post_id"].to_numpy()
    scored, not_refit = {}, {}
    for name, family in families.items():
        if family.kind == "trained" and name in BUILDERS:
            config = json.loads(best_params_file(name).read_text())
            read = family.embedding_of(embeddings)
            X = feature_matrix(family.uses_metadata, read, frame)
            model = fit_quietly(build(name, config, seed, read.shape[1]), X[~newest],
                                fit["well_received"].to_numpy())
            score = model.predict_proba(X[newest])[:, 1]
        elif name == "majority":
            score = majority(fit)(test)
        elif name in TIMING_RULES:
            score = timing_baseline(name, fit)(test)
        else:
            not_refit[name] = "not refit by forward"
            continue
        scored[name] = {"kind": family.kind, **scores(y, score, threads)}
        print(f"forward {name}: {json.dumps(scored[name])}")
    per_thread = test.groupby("post_id").agg(rows=("well_received", "size"), positive_share=("well_received", "mean"),
                                             thread_start_utc=("thread_start_utc", "min"))
    return {"test_share": test_share, "fit": summary(fit), "test": summary(test),
            "test_threads": {str(post_id): {"rows": int(r.rows), "positive_share": round(float(r.positive_share), 4),
                                            "thread_start_utc": float(r.thread_start_utc)}
                             for post_id, r in per_thread.sort_values("thread_start_utc").iterrows()},
            "families": scored, "not_refit": not_refit}
