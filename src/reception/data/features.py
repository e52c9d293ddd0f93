"""Metadata known when a comment is written, as the hybrid family and the service both compute it.

Inputs per comment: the normalised body (for its length and punctuation), `created_utc`,
`thread_start_utc` and `is_top_level` (a reply to the post rather than to a comment); `is_submitter` (the
post's author wrote it) is computed as a candidate the ablation tries, and not read by the served model.
The thread starts at the post's `created_utc` when the post is known, else at the thread's first comment.
The score and anything computed from it are never inputs.
`metadata_features` reads its columns by name, from a training DataFrame or from the dict of arrays the
request path builds (no pandas frame per request: that cost more than the classifier).

The kept groups (FEATURE_GROUPS) are those whose removal lowers the thread-CV ROC-AUC (fold mean) in the
ablation (reception.models.ablation, metrics/ablation.json); CANDIDATE_GROUPS were tried and did not earn a place:
the ablation adds each back and reports the change, so the choice is re-checked at every run.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from reception.data.text import text_features

# Groups of metadata features: what the ablation removes (kept) or adds (candidate) one at a time, and
# what an explanation names. The API inputs each group reads (besides the text) are in GROUP_INPUTS.
FEATURE_GROUPS = {"reply_structure": ("is_top_level",),
                  "length_punctuation": ("log_text_len", "log_word_count", "has_exclamation", "has_question"),
                  "hour_of_day": ("hour_sin", "hour_cos"), "timing": ("log_minutes_since_thread_start",)}
CANDIDATE_GROUPS = {"submitter": ("is_submitter",)}
GROUP_INPUTS = {"submitter": ("is_submitter",), "reply_structure": ("is_top_level",), "length_punctuation": (),
                "hour_of_day": ("created_utc",), "timing": ("created_utc", "post_created_utc")}
METADATA_FEATURES = tuple(f for members in FEATURE_GROUPS.values() for f in members)
CANDIDATE_FEATURES = tuple(f for members in CANDIDATE_GROUPS.values() for f in members)
METADATA_INPUTS = ("created_utc", "thread_start_utc", "is_top_level")  # the columns the kept features read
CANDIDATE_INPUTS = ("is_submitter",)  # training columns only a candidate group reads
# The metadata columns of the training matrices (after the embedding) that train and ablation compare:
# the kept features first, so that a served model's columns are a prefix.
ALL_FEATURES = (*METADATA_FEATURES, *CANDIDATE_FEATURES)


def feature_columns(features, embedding_dim: int) -> list[int]:
    """Column indices of the embedding and of `features` in a matrix of the embedding then ALL_FEATURES."""
    return [*range(embedding_dim), *(embedding_dim + ALL_FEATURES.index(f) for f in features)]


def ablation_variants() -> list[tuple[str, str, tuple[str, ...]]]:
    """(variant, group, features) compared with the kept features: ("without", g, the kept features less
    g's) for each kept group, then ("with_candidate", g, the kept features and g's) for each candidate."""
    return [*(("without", group, tuple(f for f in METADATA_FEATURES if f not in members))
              for group, members in FEATURE_GROUPS.items()),
            *(("with_candidate", group, (*METADATA_FEATURES, *members)) for group, members in CANDIDATE_GROUPS.items())]


def supported(variant: str, change: float) -> bool:
    """The ablation's rule on the thread-CV fold mean: a kept group stays only if removing it lowers it, a
    candidate joins only if adding it raises it."""
    return change < 0 if variant == "without" else change > 0


def is_top_level(parent_id: pd.Series) -> pd.Series:
    """Reddit prefixes a post's id with t3_ and a comment's with t1_."""
    return parent_id.str.startswith("t3_").astype("bool")


def thread_start_utc(comments: pd.DataFrame) -> pd.Series:
    """Per comment: the post's created_utc when the post is known, else the thread's first comment time."""
    first_comment = comments.groupby("post_id")["created_utc"].transform("min").astype("float64")
    post_created = comments["post_created_utc"].astype("float64")
    return post_created.where(comments["post_known"].astype(bool) & post_created.notna(), first_comment)


def comments_before(comments: pd.DataFrame) -> pd.Series:
    """Per comment: how many comments of its thread were written before it (deleted ones included), i.e. its
    order in the thread minus one, which is known when it is written (timing_rank's input)."""
    return (comments.groupby("post_id")["created_utc"].rank(method="min").astype("int64") - 1)


def minutes_since_thread_start(created_utc, thread_start_utc) -> np.ndarray:
    """Thread age when the comment was written, in minutes, never below 0 (a comment timestamped a little
    before its post is treated as written at the start)."""
    created, start = np.asarray(created_utc, dtype="float64"), np.asarray(thread_start_utc, dtype="float64")
    return np.maximum((created - start) / 60, 0)


def metadata_features(columns: Mapping, features: tuple[str, ...] = METADATA_FEATURES) -> np.ndarray:
    """The matrix (float64) of `features` (default: the kept METADATA_FEATURES; the ablation also asks for
    CANDIDATE_FEATURES) from the columns text_len, word_count, the two punctuation flags and the inputs
    they read. Hour of day is cyclic (sin/cos); counts and thread age are log-scaled."""
    def column(name: str) -> np.ndarray:
        return np.asarray(columns[name], dtype="float64")

    created = column("created_utc")
    hour = (created % 86400) / 3600
    minutes = minutes_since_thread_start(created, column("thread_start_utc"))
    values = {
        "is_top_level": column("is_top_level"),
        "log_text_len": np.log1p(column("text_len")),
        "log_word_count": np.log1p(column("word_count")),
        "has_exclamation": column("has_exclamation"),
        "has_question": column("has_question"),
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "log_minutes_since_thread_start": np.log1p(minutes),
    }
    if "is_submitter" in features:  # a candidate: training columns only, never a request's
        values["is_submitter"] = column("is_submitter")
    return np.column_stack([values[name] for name in features])


def request_columns(normalized_texts: list[str], metadata: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns metadata_features reads, from normalised texts and their METADATA_INPUTS."""
    text = text_features(pd.Series(normalized_texts, dtype="object"))
    return {**{name: text[name].to_numpy() for name in text.columns}, **metadata}


# What a request may give: every API input is accepted; READ_INPUTS are those the kept groups read. An input
# not read (is_submitter: its group was dropped by the ablation) is neither given a default nor listed in
# inputs_used, so inputs_used names exactly what the model read.
API_INPUTS = ("created_utc", "post_created_utc", "is_submitter", "is_top_level")
READ_INPUTS = tuple(name for name in API_INPUTS
                    if any(name in GROUP_INPUTS[group] for group in FEATURE_GROUPS))


def training_defaults(train: pd.DataFrame) -> dict:
    """What an absent API input stands for: the training rows' majority flag and median thread age."""
    minutes = (train["created_utc"].astype("float64") - train["thread_start_utc"].astype("float64")) / 60
    return {"is_top_level": bool(train["is_top_level"].astype(bool).mean() >= 0.5),
            "minutes_since_thread_start": round(float(minutes.clip(lower=0).median()), 1)}


def resolve_inputs(records: list[dict], defaults: dict, now: float) -> tuple[dict[str, np.ndarray], list[dict]]:
    """METADATA_INPUTS per record from its optional READ_INPUTS (absent = missing or None), and for each
    record where every value it read came from: {"created_utc": {"value": ..., "source": "request"}, ...}.
    An API input outside READ_INPUTS (is_submitter) is accepted and ignored.

    Defaults: created_utc = `now` (the comment is being written); the thread started the training median
    thread age before created_utc; is_top_level takes the training majority.
    """
    default_source = {"created_utc": "default: time of the request",
                      "post_created_utc": f"default: {defaults['minutes_since_thread_start']} min before "
                                          "created_utc (training median thread age)",
                      "is_top_level": "default: training majority"}
    rows, used = [], []
    for record in records:
        given = {name: record[name] for name in READ_INPUTS if name in record and pd.notna(record[name])}
        created = float(given.get("created_utc", now))
        age_s = 60 * defaults["minutes_since_thread_start"]
        start = float(given.get("post_created_utc", created - age_s))
        values = {"created_utc": created, "post_created_utc": start,
                  "is_top_level": bool(given.get("is_top_level", defaults["is_top_level"]))}
        rows.append({"created_utc": created, "thread_start_utc": start, "is_top_level": values["is_top_level"]})
        used.append({name: {"value": values[name], "source": "request" if name in given else default_source[name]}
                     for name in READ_INPUTS})
    return {name: np.array([row[name] for row in rows], dtype="float64") for name in METADATA_INPUTS}, used
