"""Metadata known when a comment is written, as the hybrid family and the service both compute it.

Inputs per comment: the normalised body (for its length and punctuation), `created_utc`,
`thread_start_utc`, `is_submitter` and `is_top_level` (a reply to the post rather than to a comment).
The thread starts at the post's `created_utc` when the post is known, else at the thread's first comment.
The score and anything computed from it are never inputs.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from reception.text import text_features

METADATA_INPUTS = ("created_utc", "thread_start_utc", "is_submitter", "is_top_level")
METADATA_FEATURES = ("is_submitter", "is_top_level", "log_text_len", "log_word_count", "has_exclamation",
                     "has_question", "hour_sin", "hour_cos", "log_minutes_since_thread_start")


def is_top_level(parent_id: pd.Series) -> pd.Series:
    """Reddit prefixes a post's id with t3_ and a comment's with t1_."""
    return parent_id.str.startswith("t3_").astype("bool")


def thread_start_utc(comments: pd.DataFrame) -> pd.Series:
    """Per comment: the post's created_utc when the post is known, else the thread's first comment time."""
    first_comment = comments.groupby("post_id")["created_utc"].transform("min").astype("float64")
    post_created = comments["post_created_utc"].astype("float64")
    return post_created.where(comments["post_known"].astype(bool) & post_created.notna(), first_comment)


def metadata_features(frame: pd.DataFrame) -> np.ndarray:
    """The METADATA_FEATURES matrix (float64) from text_len, word_count, the two punctuation flags and
    METADATA_INPUTS. Hour of day is cyclic (sin/cos); counts and thread age are log-scaled."""
    created = frame["created_utc"].astype("float64")
    hour = (created % 86400) / 3600
    minutes = ((created - frame["thread_start_utc"].astype("float64")) / 60).clip(lower=0)
    columns = {
        "is_submitter": frame["is_submitter"].astype("float64"),
        "is_top_level": frame["is_top_level"].astype("float64"),
        "log_text_len": np.log1p(frame["text_len"].astype("float64")),
        "log_word_count": np.log1p(frame["word_count"].astype("float64")),
        "has_exclamation": frame["has_exclamation"].astype("float64"),
        "has_question": frame["has_question"].astype("float64"),
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "log_minutes_since_thread_start": np.log1p(minutes),
    }
    return np.column_stack([columns[name].to_numpy(dtype="float64") for name in METADATA_FEATURES])


def request_frame(normalized_texts: list[str], metadata: pd.DataFrame) -> pd.DataFrame:
    """A frame metadata_features accepts, from normalised texts and their METADATA_INPUTS columns."""
    texts = pd.Series(normalized_texts, index=metadata.index, dtype="object")
    return pd.concat([text_features(texts), metadata[list(METADATA_INPUTS)]], axis=1)


API_INPUTS = ("created_utc", "post_created_utc", "is_submitter", "is_top_level")


def training_defaults(train: pd.DataFrame) -> dict:
    """What an absent API input stands for: the training rows' majority flags and median thread age."""
    minutes = (train["created_utc"].astype("float64") - train["thread_start_utc"].astype("float64")) / 60
    return {"is_submitter": bool(train["is_submitter"].astype(bool).mean() >= 0.5),
            "is_top_level": bool(train["is_top_level"].astype(bool).mean() >= 0.5),
            "minutes_since_thread_start": round(float(minutes.clip(lower=0).median()), 1)}


def resolve_inputs(records: list[dict], defaults: dict, now: float) -> tuple[pd.DataFrame, list[dict]]:
    """METADATA_INPUTS per record from its optional API_INPUTS (absent = missing or None), and for each
    record where every value came from: {"created_utc": {"value": ..., "source": "request"}, ...}.

    Defaults: created_utc = `now` (the comment is being written); the thread started the training median
    thread age before created_utc; is_submitter and is_top_level take the training majority.
    """
    rows, used = [], []
    for record in records:
        given = {name: record[name] for name in API_INPUTS if name in record and pd.notna(record[name])}
        created = float(given.get("created_utc", now))
        age_s = 60 * defaults["minutes_since_thread_start"]
        start = float(given.get("post_created_utc", created - age_s))
        values = {"created_utc": created, "post_created_utc": start,
                  "is_submitter": bool(given.get("is_submitter", defaults["is_submitter"])),
                  "is_top_level": bool(given.get("is_top_level", defaults["is_top_level"]))}
        rows.append({"created_utc": created, "thread_start_utc": start, "is_submitter": values["is_submitter"],
                     "is_top_level": values["is_top_level"]})
        default_source = {"created_utc": "default: time of the request",
                          "post_created_utc": f"default: {defaults['minutes_since_thread_start']} min before "
                                              "created_utc (training median thread age)",
                          "is_submitter": "default: training majority", "is_top_level": "default: training majority"}
        used.append({name: {"value": values[name], "source": "request" if name in given else default_source[name]}
                     for name in API_INPUTS})
    return pd.DataFrame(rows, columns=list(METADATA_INPUTS)), used
