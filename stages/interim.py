"""interim: the seed's wrangling, one Parquet file per step.

1. comments_clean_step1       thread start, top-level flag and comments_before (the comment's order in the
                              thread, from every comment, deleted ones too),
                              drop [deleted]/[removed] bodies, NFKC-normalise the body into `text`
2. comments_features_step2    text_len, word_count, has_exclamation, has_question; drop text_len <= min
3. comments_outliers_handled  winsorise score at its low/high quantiles, text_len at its high quantile
4. comments_text_normalized   clean_text (shared cleaning); drop clean_text of length <= min
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from reception.features import comments_before, is_top_level, thread_start_utc
from reception.io import fresh_dir, load_params, write_json
from reception.text import clean_text, is_deleted, normalize, text_features

SILVER_FILE = Path("data/silver/reddit/fact_comments.parquet")
OUT_DIR = Path("data/interim")
METRICS_FILE = Path("metrics/interim.json")
KEEP_COLUMNS = ["comment_id", "post_id", "subreddit", "author", "body", "score", "created_utc",
                "created_dt", "post_created_utc", "post_known", "thread_start_utc", "comments_before", "is_submitter",
                "is_top_level"]


def drop_deleted(comments: pd.DataFrame) -> pd.DataFrame:
    comments = comments.assign(thread_start_utc=thread_start_utc(comments), comments_before=comments_before(comments),
                               is_top_level=is_top_level(comments["parent_id"]))
    kept = comments.loc[~comments["body"].map(is_deleted), KEEP_COLUMNS].copy()
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


def main() -> None:
    params = load_params("interim")
    out = fresh_dir(OUT_DIR)
    comments = pd.read_parquet(SILVER_FILE)
    step1 = drop_deleted(comments)
    step2 = add_features(step1, params["min_text_len"])
    step3 = winsorise(step2, params["score_quantiles"], params["text_len_quantile"])
    step4 = add_clean_text(step3, params["min_clean_text_len"])
    steps = {
        "comments_clean_step1": step1,
        "comments_features_step2": step2,
        "comments_outliers_handled": step3,
        "comments_text_normalized": step4,
    }
    for name, frame in steps.items():
        frame.reset_index(drop=True).to_parquet(out / f"{name}.parquet", index=False)
    report = {
        "rows_in": len(comments),
        "dropped_deleted": len(comments) - len(step1),
        "dropped_short_text": len(step1) - len(step2),
        "dropped_short_clean_text": len(step3) - len(step4),
        "rows_out": len(step4),
        "score_clip": [float(step3["score_clipped"].min()), float(step3["score_clipped"].max())],
        "text_len_clip_max": float(step3["text_len_clipped"].max()),
    }
    write_json(METRICS_FILE, report)
    print("interim " + " ".join(f"{k}={v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
