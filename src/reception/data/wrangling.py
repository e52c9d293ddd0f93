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

`wrangle` runs the four steps on the Dask scheduler in use (the interim stage's), each written as a folder
of Parquet parts before the next reads it. Each step is the same pandas function on every Dask partition
(`interim_partitions` puts each thread whole in one partition: a comment's context reads its thread only).
The winsorisation quantiles are the whole step 2 table's, exact (reception.data.counted_quantiles, from the
value counts of each partition), never Dask's approximate ones.

A score read minutes after the comment was written says little about its reception: a comment whose
(latest) observation came less than `label.min_age_hours` after it was written is no label yet and is
dropped (counted as dropped_immature); a later batch brings it back with a mature score. Rows without
`observed_utc` (exports that did not record it, such as the sample in data/sample/reddit) are taken as mature.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd

from reception.data.counted_quantiles import is_arrow_backed, linear_quantiles
from reception.data.dask_runtime import (
    by_thread,
    map_parts,
    partitions_for,
    read_parts,
    write_parts,
    write_parts_later,
)
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


def interim_partitions(comments: dd.DataFrame, partition_rows: int) -> dd.DataFrame:
    """The silver comments with every thread whole in one partition of about `partition_rows` rows
    (params interim.partition_rows), each sorted by comment_id: what step 1's thread context needs."""
    return by_thread(comments, partitions_for(int(comments.shape[0].compute()), partition_rows))


WINSORISED = ("score", "text_len")  # the columns step 3 clips, by their quantiles over the whole step 2 table


@dataclass(frozen=True)
class WinsorBounds:
    score_low: float
    score_high: float
    text_len_high: float


def winsor_counts(step2: pd.DataFrame) -> dict:
    """What winsor_bounds needs of a part of step 2: each clipped column's value counts and backing."""
    return {column: (step2[column].value_counts(), is_arrow_backed(step2[column].dtype)) for column in WINSORISED}


def step_and_winsor_counts(step2: pd.DataFrame) -> dict:
    return {**step_counts(step2), "winsor": winsor_counts(step2)}


def winsor_bounds(parts: list[dict], score_quantiles: list[float], text_len_quantile: float) -> WinsorBounds:
    """Series.quantile's bounds on the whole step 2 table (score at score_quantiles, text_len at
    text_len_quantile: params interim), exactly, from winsor_counts of each of its parts."""
    def quantiles(column: str, qs: list[float]) -> list[float]:
        counts = pd.concat([part[column][0] for part in parts]).groupby(level=0).sum()
        return linear_quantiles(counts, qs, arrow=any(part[column][1] for part in parts))
    low, high = quantiles("score", score_quantiles)
    (text_len_high,) = quantiles("text_len", [text_len_quantile])
    return WinsorBounds(low, high, text_len_high)


def winsorise(step2: pd.DataFrame, bounds: WinsorBounds) -> pd.DataFrame:
    step3 = step2.copy()
    step3["score_clipped"] = step2["score"].astype("float64").clip(bounds.score_low, bounds.score_high)
    step3["text_len_clipped"] = step2["text_len"].astype("float64").clip(upper=bounds.text_len_high)
    return step3


def add_clean_text(step3: pd.DataFrame, min_clean_len: int) -> pd.DataFrame:
    step4 = step3.copy()
    step4["clean_text"] = step3["text"].map(clean_text)
    return step4.loc[step4["clean_text"].str.len() > min_clean_len]


def step_counts(step: pd.DataFrame) -> dict:
    """What interim_report adds up of a part of a step: its rows and, of step 3, its clipped extremes."""
    counts = {"rows": len(step)}
    if "score_clipped" in step and len(step):
        counts.update(score_clip=[float(step["score_clipped"].min()), float(step["score_clipped"].max())],
                      text_len_clip_max=float(step["text_len_clipped"].max()))
    return counts


def interim_report(rows_in: int, immature: int, steps: list[list[dict]], min_age_hours: float) -> dict:
    """How many comments each step dropped, and the winsorising bounds, from step_counts of every part of
    the four steps."""
    step1, step2, step3, step4 = (sum(part["rows"] for part in parts) for parts in steps)
    clipped = [part for part in steps[2] if "score_clip" in part]
    return {
        "rows_in": rows_in,
        "min_age_hours": min_age_hours,
        "dropped_immature": immature,
        "dropped_deleted": rows_in - immature - step1,
        "dropped_short_text": step1 - step2,
        "dropped_short_clean_text": step3 - step4,
        "rows_out": step4,
        "score_clip": [min((part["score_clip"][0] for part in clipped), default=float("nan")),
                       max((part["score_clip"][1] for part in clipped), default=float("nan"))],
        "text_len_clip_max": max((part["text_len_clip_max"] for part in clipped), default=float("nan")),
    }


def wrangle(silver_comments: Path, step_folders: tuple[Path, Path, Path, Path], settings: dict,
            min_age_hours: float) -> dict:
    """The four steps from the silver comments' parts into `step_folders` (live, with features, winsorised,
    with clean text), partition by partition of whole threads; returns interim_report's counts. `settings`:
    params interim."""
    live, features, winsorised, clean = step_folders
    silver = read_parts(silver_comments)
    rows_in, immature = dask.compute(silver.shape[0], silver.map_partitions(
        is_immature, min_age_hours, meta=("immature", "bool")).sum())
    step1 = map_parts(interim_partitions(silver, settings["partition_rows"]), live_comments_in_context,
                      min_age_hours)
    counts1 = write_parts(step1, live, step_counts)
    step2 = map_parts(read_parts(live), add_features, settings["min_text_len"])
    counts2 = write_parts(step2, features, step_and_winsor_counts)
    bounds = winsor_bounds([part["winsor"] for part in counts2], settings["score_quantiles"],
                           settings["text_len_quantile"])
    step3 = map_parts(read_parts(features), winsorise, bounds)
    step4 = map_parts(step3, add_clean_text, settings["min_clean_text_len"])
    counts3, counts4 = dask.compute(write_parts_later(step3, winsorised, step_counts),
                                    write_parts_later(step4, clean, step_counts))
    return interim_report(int(rows_in), int(immature), [counts1, counts2, counts3, counts4], min_age_hours)
