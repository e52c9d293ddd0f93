"""IMEDIA's exploratory analysis as plot tables: distributions of score, text length and word count;
correlation of the numeric columns; share of '!' and '?' by label; median score per thread (the thread
effect that makes random splits optimistic)."""
from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC_COLUMNS = ["score", "score_clipped", "text_len", "text_len_clipped", "word_count",
                   "has_exclamation", "has_question", "well_received"]


def histogram(values: pd.Series, bins: int, name: str) -> pd.DataFrame:
    counts, edges = np.histogram(values.to_numpy(dtype="float64"), bins=bins)
    return pd.DataFrame({name: np.round(edges[:-1], 3), "comments": counts})


def correlation(frame: pd.DataFrame) -> pd.DataFrame:
    corr = frame[NUMERIC_COLUMNS].astype("float64").corr().round(4)
    long = corr.stack().rename("correlation").reset_index()
    return long.rename(columns={"level_0": "variable_x", "level_1": "variable_y"})


def punctuation_by_label(frame: pd.DataFrame) -> pd.DataFrame:
    labels = frame["well_received"].map({1: "positive", 0: "negative"})
    rows = [{"group": f"{mark} in {label}", "share": round(float(frame.loc[labels == label, column].mean()), 4)}
            for mark, column in (("!", "has_exclamation"), ("?", "has_question"))
            for label in ("positive", "negative")]
    return pd.DataFrame(rows)


def thread_medians(frame: pd.DataFrame) -> pd.DataFrame:
    threads = frame.assign(subreddit=frame["subreddit"].fillna("(post unknown)")).groupby(
        ["post_id", "subreddit"]).agg(median_score=("score", "median"), comments=("score", "size")).reset_index()
    threads["thread"] = threads["subreddit"] + "/" + threads["post_id"]
    return threads[["thread", "median_score", "comments"]].sort_values("median_score")


def eda_tables(frame: pd.DataFrame, bins: int) -> dict[str, pd.DataFrame]:
    """Every plot table by name (the name of its csv and of its plot in dvc.yaml)."""
    return {
        "score_distribution": histogram(frame["score_clipped"], bins, "score_clipped"),
        "text_len_distribution": histogram(frame["text_len_clipped"], bins, "text_len_clipped"),
        "word_count_distribution": histogram(frame["word_count"], bins, "word_count"),
        "correlation": correlation(frame),
        "punctuation_by_label": punctuation_by_label(frame),
        "thread_median_score": thread_medians(frame),
    }
