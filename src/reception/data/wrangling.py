"""Interim: IMEDIA's wrangling of the silver comments, in four steps, each kept as a table.

1. live comments      thread start, top-level flag, comments_before (the comment's order in its
                      thread) and the thread as its writer saw it (reception.data.thread_context: depth,
                      its parent, earlier replies, the thread's pace): all from every comment, deleted
                      ones too, each from comments written before it; drop comments whose score
                      was read too soon (below), drop [deleted]/[removed] bodies, NFKC-normalise
                      the body into `text`
2. with features      text_len, word_count, has_exclamation, has_question; drop text_len <= min
3. winsorised         winsorise score at its low/high quantiles, text_len at its high quantile
4. with clean text    clean_text (shared cleaning); drop clean_text of length <= min

A score read minutes after the comment was written says little about its reception: a comment whose
(latest) observation came less than `label.min_age_hours` after it was written is no label yet and is
dropped (counted as dropped_immature); a later batch brings it back with a mature score. Rows without
`observed_utc` (exports that did not record it, such as the sample in data/sample/reddit) are taken as mature.
"""
from __future__ import annotations

import pandas as pd

from reception.data.features import comments_before, is_top_level, thread_start_utc
from reception.data.text import clean_text, is_deleted, normalize, text_features
from reception.data.thread_context import CONTEXT_COLUMNS, thread_context

KEEP_COLUMNS = ["comment_id", "post_id", "parent_id", "subreddit", "author", "body", "score", "created_utc",
                "created_dt", "post_created_utc", "post_known", "thread_start_utc", "comments_before", "is_submitter",
                "is_top_level", *CONTEXT_COLUMNS]


def is_immature(comments: pd.DataFrame, min_age_hours: float) -> pd.Series:
    """Read less than min_age_hours after written; a row without observed_utc is mature."""
    if "observed_utc" not in comments:
        return pd.Series(False, index=comments.index)
    age_s = comments["observed_utc"].astype("float64") - comments["created_utc"].astype("float64")
    return (age_s < min_age_hours * 3600).fillna(False).astype(bool)


def live_comments_in_context(comments: pd.DataFrame, min_age_hours: float = 0.0) -> pd.DataFrame:
    """Step 1. Thread context first (a thread's start and a reply's level come from every comment,
    deleted ones included), then only the comments that can be labelled: mature and not deleted, with
    the body NFKC-normalised into `text`."""
    comments = comments.assign(thread_start_utc=thread_start_utc(comments), comments_before=comments_before(comments),
                               is_top_level=is_top_level(comments["parent_id"]))
    comments = pd.concat([comments, thread_context(comments)], axis=1)
    keep = ~is_immature(comments, min_age_hours) & ~comments["body"].map(is_deleted)
    kept = comments.loc[keep, KEEP_COLUMNS].copy()
    kept["text"] = kept["body"].map(normalize)
    return kept


def add_features(step1: pd.DataFrame, min_text_len: int) -> pd.DataFrame:
    step2 = pd.concat([step1, text_features(step1["text"])], axis=1)
    return step2.loc[step2["text_len"] > min_text_len]


def winsorise(step2: pd.DataFrame, score_quantiles: list[float], text_len_quantile: float) -> pd.DataFrame:
    low, high = step2["score"].quantile(score_quantiles)
    step3 = step2.copy()
    step3["score_clipped"] = step2["score"].astype("float64").clip(low, high)
    step3["text_len_clipped"] = step2["text_len"].astype("float64").clip(
        upper=step2["text_len"].quantile(text_len_quantile))
    return step3


def add_clean_text(step3: pd.DataFrame, min_clean_len: int) -> pd.DataFrame:
    step4 = step3.copy()
    step4["clean_text"] = step3["text"].map(clean_text)
    return step4.loc[step4["clean_text"].str.len() > min_clean_len]


def interim_steps(comments: pd.DataFrame, settings: dict, min_age_hours: float) -> list[pd.DataFrame]:
    """The four steps' tables, in order; `settings`: params.yaml `interim`."""
    step1 = live_comments_in_context(comments, min_age_hours)
    step2 = add_features(step1, settings["min_text_len"])
    step3 = winsorise(step2, settings["score_quantiles"], settings["text_len_quantile"])
    step4 = add_clean_text(step3, settings["min_clean_text_len"])
    return [step1, step2, step3, step4]


def interim_report(comments: pd.DataFrame, steps: list[pd.DataFrame], min_age_hours: float) -> dict:
    """How many comments each step dropped, and the winsorising bounds."""
    step1, step2, step3, step4 = steps
    immature = int(is_immature(comments, min_age_hours).sum())
    return {
        "rows_in": len(comments),
        "min_age_hours": min_age_hours,
        "dropped_immature": immature,
        "dropped_deleted": len(comments) - immature - len(step1),
        "dropped_short_text": len(step1) - len(step2),
        "dropped_short_clean_text": len(step3) - len(step4),
        "rows_out": len(step4),
        "score_clip": [float(step3["score_clipped"].min()), float(step3["score_clipped"].max())],
        "text_len_clip_max": float(step3["text_len_clipped"].max()),
    }
