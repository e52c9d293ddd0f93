"""Silver: IMEDIA's model of the data, dim_subreddit, dim_author, fact_comments, fact_posts, from bronze.

Comments whose thread has no post row are kept (post columns null, `post_known` false) and counted.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

PARTITION_COLUMNS = ["YYYY", "MM", "DD"]


def read_bronze(bronze_dir: Path, entity: str) -> pd.DataFrame:
    frame = pd.read_parquet(bronze_dir / entity)
    return frame.drop(columns=[c for c in PARTITION_COLUMNS if c in frame])


def build_fact_comments(comments: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    thread = posts[["id", "subreddit", "created_utc"]].rename(
        columns={"id": "post_id", "created_utc": "post_created_utc"})
    fact = comments.merge(thread, on="post_id", how="left", validate="many_to_one", suffixes=("", "_of_post"))
    if "subreddit_of_post" in fact:  # dump comments name their subreddit: the post's fills only a gap
        fact["subreddit"] = fact["subreddit"].fillna(fact.pop("subreddit_of_post"))
    fact["post_known"] = fact["post_created_utc"].notna()
    return fact.sort_values("comment_id", kind="stable").reset_index(drop=True)


def build_dim_subreddit(subreddits: pd.DataFrame, posts: pd.DataFrame, hot: pd.DataFrame) -> pd.DataFrame:
    names = pd.concat([subreddits["subreddit"], posts["subreddit"], hot["subreddit"]]).drop_duplicates()
    dim = pd.DataFrame({"subreddit": names}).merge(
        subreddits.drop(columns=["_source_file", "_source_line"]), on="subreddit", how="left")
    dim["has_metadata"] = dim["subreddit"].isin(subreddits["subreddit"])
    dim["n_posts"] = dim["subreddit"].map(posts["subreddit"].value_counts()).fillna(0).astype("int64")
    dim["n_hot_lists"] = dim["subreddit"].map(hot["subreddit"].value_counts()).fillna(0).astype("int64")
    return dim.sort_values("subreddit", kind="stable").reset_index(drop=True)


def build_dim_author(comments: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    activity = pd.concat([
        comments[["author", "created_utc"]].assign(n_comments=1, n_posts=0),
        posts[["author", "created_utc"]].assign(n_comments=0, n_posts=1),
    ]).dropna(subset=["author"])
    dim = activity.groupby("author", sort=True).agg(
        n_comments=("n_comments", "sum"), n_posts=("n_posts", "sum"),
        first_seen_utc=("created_utc", "min"), last_seen_utc=("created_utc", "max"))
    return dim.reset_index()


def silver_tables(bronze_dir: Path) -> dict[str, pd.DataFrame]:
    """Every silver table by name, from the bronze entities under `bronze_dir`."""
    comments, posts = read_bronze(bronze_dir, "comments"), read_bronze(bronze_dir, "posts")
    subreddits, hot = read_bronze(bronze_dir, "subreddits"), read_bronze(bronze_dir, "hot_sublists")
    return {
        "fact_comments": build_fact_comments(comments, posts),
        "fact_posts": posts.sort_values("id", kind="stable").reset_index(drop=True),
        "dim_subreddit": build_dim_subreddit(subreddits, posts, hot),
        "dim_author": build_dim_author(comments, posts),
    }


def silver_report(tables: dict[str, pd.DataFrame]) -> dict:
    """Rows per table, threads, and the threads and comments without a post row."""
    fact = tables["fact_comments"]
    orphans = fact.loc[~fact["post_known"]]
    return {
        **{f"{name}_rows": len(table) for name, table in tables.items()},
        "threads": int(fact["post_id"].nunique()),
        "threads_without_post": int(orphans["post_id"].nunique()),
        "comments_without_post": len(orphans),
    }
