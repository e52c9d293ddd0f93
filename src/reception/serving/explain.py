"""Why a score, and when to post: what the service returns next to each probability.

Contributions. Each request input's share of the model's logit, as exact Shapley values over groups of
feature columns, against one reference point: the training mean of every column (what the fitted scalers
already hold). With 2^groups coalitions (a handful of groups, so at most a few hundred rows per request)
the values are exact for any head and add up to logit(request) - logit(reference). For a linear head on
affine transforms (StandardScaler, PCA, logistic regression, Platt scaling: the hybrid family) they equal
w . (x - mean) summed over each group's columns, the usual exact linear decomposition, computed as such:
one evaluation per group instead of 2^groups. For gradient-boosted trees they are the documented fallback,
group Shapley values with a single (interventional) reference, not SHAP's average over a background
sample. The text is one group: its embedding and its length and punctuation.

When to post. The calibrated score of the same draft written now and after delays, everything else held
as given: the thread keeps its start time and, when the request gave its thread, its listed comments, of
which those written before each delayed time count (a comment listed after "now" counts once the draft
waits past it); without a thread only the comment's own timing moves.
"""
from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from reception.data.features import FEATURE_GROUPS, METADATA_FEATURES
from reception.data.thread_context import CONVERSATION_COLUMNS
from reception.models.calibration import CalibratedModel, logit

DELAYS_MINUTES = (0, 15, 60, 180, 720)


def shapley_group_values(predict_logit, X: np.ndarray, reference: np.ndarray,
                         groups: dict[str, np.ndarray]) -> list[dict]:
    """[{group: Shapley value}] of predict_logit at each row of X against `reference`, a group's columns
    taking the row's values when it is "present" and the reference's otherwise. One call of predict_logit
    for every coalition of every row: a model's per-call overhead, not its per-row cost, dominates a
    request's handful of rows."""
    X = np.atleast_2d(np.asarray(X, dtype="float64"))
    names = list(groups)
    n = len(names)
    coalitions = [frozenset(c) for size in range(n + 1) for c in combinations(range(n), size)]
    present = np.zeros((len(coalitions), X.shape[1]), dtype=bool)
    for row, coalition in enumerate(coalitions):
        for g in coalition:
            present[row, groups[names[g]]] = True
    rows = np.where(present[None], X[:, None, :], np.asarray(reference, dtype="float64")[None, None, :])
    value = np.asarray(predict_logit(rows.reshape(-1, X.shape[1]))).reshape(len(X), len(coalitions))
    index = {c: k for k, c in enumerate(coalitions)}
    weights = [factorial(size) * factorial(n - size - 1) / factorial(n) for size in range(n)]
    shapley = np.zeros((len(X), n))
    for g in range(n):
        without = [c for c in coalitions if g not in c]
        gain = value[:, [index[c | {g}] for c in without]] - value[:, [index[c] for c in without]]
        shapley[:, g] = gain @ np.array([weights[len(c)] for c in without])
    return [{name: float(v) for name, v in zip(names, row, strict=True)} for row in shapley]


def additive_group_values(predict_logit, X: np.ndarray, reference: np.ndarray,
                          groups: dict[str, np.ndarray]) -> list[dict]:
    """shapley_group_values for a predict_logit that is additive across the groups (is_affine): a group's
    Shapley value is then its effect alone, f(the reference with the row's columns of that group) -
    f(reference), so one evaluation per group and row and one of the reference."""
    X = np.atleast_2d(np.asarray(X, dtype="float64"))
    reference = np.asarray(reference, dtype="float64")
    names = list(groups)
    present = np.zeros((len(names), X.shape[1]), dtype=bool)
    for k, name in enumerate(names):
        present[k, groups[name]] = True
    rows = np.where(present[None], X[:, None, :], reference[None, None, :]).reshape(-1, X.shape[1])
    value = np.asarray(predict_logit(np.vstack([rows, reference[None]])))
    alone = value[:-1].reshape(len(X), len(names)) - value[-1]
    return [{name: float(v) for name, v in zip(names, row, strict=True)} for row in alone]


def is_affine(model) -> bool:
    """Whether logit(P) of the fitted `model` is an affine function of its input: only scalers, PCA and
    column selection before a logistic regression, Platt-calibrated or not (the hybrid's linear head).
    Exact while the head's P stays within calibration.EPSILON of 0 and 1, where its logit is clipped."""
    def affine(step) -> bool:
        if isinstance(step, Pipeline):
            return all(affine(inner) for _, inner in step.steps)
        if isinstance(step, ColumnTransformer):
            return all(inner == "drop" or affine(inner) for _, inner, _ in step.transformers_)
        return isinstance(step, (StandardScaler, PCA, LogisticRegression))
    return affine(model.model if isinstance(model, CalibratedModel) else model)


def hybrid_groups(embedding_dim: int, features=METADATA_FEATURES) -> dict[str, np.ndarray]:
    """Column indices of the hybrid's input (embedding, then `features`) per explained group: "text" (the
    embedding and the length and punctuation of the text), then each other feature group present."""
    groups = {"text": [*range(embedding_dim), *(embedding_dim + features.index(f)
                                                 for f in FEATURE_GROUPS["length_punctuation"] if f in features)]}
    for name, members in FEATURE_GROUPS.items():
        if name != "length_punctuation" and set(members) <= set(features):
            groups[name] = [embedding_dim + features.index(f) for f in members]
    return {name: np.asarray(columns) for name, columns in groups.items()}


def training_mean(model) -> np.ndarray:
    """The training mean of every input column, as the family's fitted scalers hold it (hybrid: the
    embedding's and the metadata's; mlp_transformer: its one scaler)."""
    pipeline = model.model if isinstance(model, CalibratedModel) else model
    if "columns" not in pipeline.named_steps:
        return pipeline.named_steps["scaler"].mean_
    columns = pipeline.named_steps["columns"]
    metadata = columns.named_transformers_["metadata"].mean_
    if "embedding" not in columns.named_transformers_:  # embedding left out: its columns are never read
        return np.concatenate([np.zeros(columns.n_features_in_ - len(metadata)), metadata])
    return np.concatenate([columns.named_transformers_["embedding"].named_steps["scaler"].mean_, metadata])


def in_words(group: str, columns: dict | None, i: int) -> str:
    """What a group's input was for request row i, as the UI says it."""
    if group == "timing":
        minutes = (float(columns["created_utc"][i]) - float(columns["thread_start_utc"][i])) / 60
        return (f"written {max(minutes, 0):.0f} min after the thread started" if minutes < 90
                else f"written {minutes / 60:.1f} h after the thread started")
    if group == "reply_structure":
        return "a reply to the post" if columns["is_top_level"][i] else "a reply to a comment"
    if group == "hour_of_day":
        return f"written at {int(float(columns['created_utc'][i]) % 86400 // 3600):02d}:00 UTC"
    if group == "thread_position":
        return thread_position_in_words({name: float(columns[name][i]) for name in
                                         ("depth", "parent_position", "minutes_since_parent",
                                          "earlier_replies_to_parent")})
    if group == "thread_activity":
        so_far, rate = float(columns["comments_so_far"][i]), float(columns["comments_per_hour_so_far"][i])
        return f"{so_far:.0f} comments in the thread before it ({rate:.0f} an hour)"
    if group == "conversation":
        return conversation_in_words({name: float(columns[name][i]) for name in CONVERSATION_COLUMNS})
    return "the text (its wording, length and punctuation)"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def after(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def thread_position_in_words(context: dict[str, float]) -> str:
    """"a reply to the thread's 2nd comment, 4 min after it", from the thread context's values."""
    replies = int(context["earlier_replies_to_parent"])
    earlier = f", after {replies} other repl{'y' if replies == 1 else 'ies'} to it" if replies else ""
    if np.isnan(context["depth"]):
        return "a reply to a comment the thread given does not show"
    if context["depth"] == 0:
        return f"a reply to the post, {after(context['minutes_since_parent'])} after it{earlier}"
    return (f"a reply to the thread's {ordinal(int(context['parent_position']))} comment, "
            f"{after(context['minutes_since_parent'])} after it{earlier}")


def conversation_in_words(conversation: dict[str, float]) -> str:
    """"its author's 3rd comment in the thread, answering a reply to them", from the conversation's values."""
    own = round(conversation["author_earlier_comments"])
    parts = [f"its author's {ordinal(own + 1)} comment in the thread" if own else
             "its author's first comment in the thread (or an author not given)"]
    if conversation["replies_back"]:
        parts.append("answering a reply to them")
    if conversation["replies_to_submitter"]:
        parts.append("a reply to the post's author")
    parent = round(conversation["parent_author_earlier"])
    if parent:
        parts.append(f"its parent's author has written {parent} comment{'s' if parent > 1 else ''} here")
    return ", ".join(parts)


def contributions(model, X: np.ndarray, embedding_dim: int, columns: dict | None = None) -> list[list[dict]]:
    """Per input row of X, each input group's contribution to the logit of `model`'s P(positive), largest
    first: [{"input", "logit", "says"}]. `columns` (request columns, one entry per row) hold the metadata
    the family reads, or None for a family of the text alone (then the text is the only group)."""
    groups = hybrid_groups(embedding_dim, METADATA_FEATURES if columns is not None else ())
    group_values = additive_group_values if is_affine(model) else shapley_group_values
    values = group_values(pipeline_logit(model), X, training_mean(model), groups)
    return [[{**item, "says": f"{in_words(item['input'], columns, i)}: "
                              f"{'raises' if item['logit'] > 0 else 'lowers'} the chance"} for item in ranked(row)]
            for i, row in enumerate(values)]


def ranked(contributions: dict[str, float]) -> list[dict]:
    """[{"input", "logit"}] largest effect first, by absolute value (a lowering input matters as much)."""
    return [{"input": name, "logit": round(v, 4)}
            for name, v in sorted(contributions.items(), key=lambda item: -abs(item[1]))]


def pipeline_logit(model):
    """logit of P(positive) of a fitted model with predict_proba (a calibrated one too)."""
    return lambda X: logit(model.predict_proba(X)[:, 1])


def when_to_post(score_records, record: dict, now: float, delays_minutes=DELAYS_MINUTES) -> list[dict]:
    """[{"delay_minutes", "created_utc", "score"}] for the draft `record` written `now` plus each delay.

    `score_records(records, now=...)` is the model's scoring of request records (ReceptionModel's: one
    ScoredRecord each); the thread's start (`post_created_utc`) must be given or it would move with the
    draft (its default is relative to created_utc), which would hide the very effect asked about.
    """
    if record.get("post_created_utc") is None:
        raise ValueError("when to post needs the thread's start (post_created_utc)")
    written = [{**record, "created_utc": now + 60 * d} for d in delays_minutes]
    scored = score_records(written, now=now)
    return [{"delay_minutes": d, "created_utc": r["created_utc"], "score": round(s.score, 4)}
            for d, r, s in zip(delays_minutes, written, scored, strict=True)]
