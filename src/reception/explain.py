"""Why a score, and when to post: what the service returns next to each probability.

Contributions. Each request input's share of the model's logit, as exact Shapley values over groups of
feature columns, against one reference point: the training mean of every column (what the fitted scalers
already hold). With 2^groups coalitions (a handful of groups, so at most a few hundred rows per request)
the values are exact for any head and add up to logit(request) - logit(reference). For a linear head on
affine transforms (StandardScaler, PCA, logistic regression: the hybrid family) they equal w . (x - mean)
summed over each group's columns, the usual exact linear decomposition; for gradient-boosted trees they
are the documented fallback, group Shapley values with a single (interventional) reference, not SHAP's
average over a background sample. The text is one group: its embedding and its length and punctuation.

When to post. The calibrated score of the same draft written now and after delays, everything else of
its thread context held as given (the thread keeps its start time, so only the comment's own timing moves).
"""
from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np

from reception.calibration import CalibratedModel, logit
from reception.features import FEATURE_GROUPS, METADATA_FEATURES

DELAYS_MINUTES = (0, 15, 60, 180, 720)


def shapley_group_values(predict_logit, x: np.ndarray, reference: np.ndarray, groups: dict[str, np.ndarray]) -> dict:
    """{group: Shapley value} of predict_logit at `x` (one row) against `reference`, a group's columns taking
    x's values when it is "present" and the reference's otherwise; one batched call over every coalition."""
    names = list(groups)
    n = len(names)
    coalitions = [frozenset(c) for size in range(n + 1) for c in combinations(range(n), size)]
    rows = np.tile(np.asarray(reference, dtype="float64"), (len(coalitions), 1))
    for row, coalition in zip(rows, coalitions):
        for g in coalition:
            row[groups[names[g]]] = x[groups[names[g]]]
    value = dict(zip(coalitions, predict_logit(rows)))
    weights = [factorial(size) * factorial(n - size - 1) / factorial(n) for size in range(n)]
    return {names[g]: float(sum(weights[len(c)] * (value[c | {g}] - value[c]) for c in coalitions if g not in c))
            for g in range(n)}


def hybrid_groups(embedding_dim: int, features=METADATA_FEATURES) -> dict[str, np.ndarray]:
    """Column indices of the hybrid's input (embedding, then `features`) per explained group: "text" (the
    embedding and the length and punctuation of the text), then each other feature group present."""
    groups = {"text": [*range(embedding_dim), *(embedding_dim + features.index(f)
                                                 for f in FEATURE_GROUPS["length_punctuation"] if f in features)]}
    for name, members in FEATURE_GROUPS.items():
        if name != "length_punctuation" and set(members) <= set(features):
            groups[name] = [embedding_dim + features.index(f) for f in members]
    return {name: np.asarray(columns) for name, columns in groups.items()}


def hybrid_reference(model) -> np.ndarray:
    """The training mean of every input column, as the hybrid's fitted scalers hold it."""
    pipeline = model.model if isinstance(model, CalibratedModel) else model
    columns = pipeline.named_steps["columns"].named_transformers_
    return np.concatenate([columns["embedding"].named_steps["scaler"].mean_, columns["metadata"].mean_])


def ranked(contributions: dict[str, float]) -> list[dict]:
    """[{"input", "logit"}] largest effect first, by absolute value (a lowering input matters as much)."""
    return [{"input": name, "logit": round(v, 4)}
            for name, v in sorted(contributions.items(), key=lambda item: -abs(item[1]))]


def pipeline_logit(model):
    """logit of P(positive) of a fitted model with predict_proba (a calibrated one too)."""
    return lambda X: logit(model.predict_proba(X)[:, 1])


def when_to_post(score_records, record: dict, now: float, delays_minutes=DELAYS_MINUTES) -> list[dict]:
    """[{"delay_minutes", "created_utc", "score"}] for the draft `record` written `now` plus each delay.

    `score_records(records, now=...)` is the model's scoring of request records (pyfunc's); the thread's
    start (`post_created_utc`) must be given or it would move with the draft (its default is relative to
    created_utc), which would hide the very effect asked about.
    """
    if record.get("post_created_utc") is None:
        raise ValueError("when to post needs the thread's start (post_created_utc)")
    written = [{**record, "created_utc": now + 60 * d} for d in delays_minutes]
    scores, _ = score_records(written, now=now)
    return [{"delay_minutes": d, "created_utc": r["created_utc"], "score": round(float(s), 4)}
            for d, r, s in zip(delays_minutes, written, scores)]
