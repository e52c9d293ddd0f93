"""Silver: IMEDIA's model of the data, dim_subreddit, dim_author, fact_comments, fact_posts, from bronze.

Comments whose thread has no post row are kept (post columns null, `post_known` false) and counted.

The comments never need to be held whole: each table is a Dask frame whose partitions hold whole threads
(fact_comments, by post_id), posts (fact_posts, by id) or authors (dim_author), each partition sorted by its key,
so a re-run writes the same parts (reception.data.dask_runtime). Posts are few: the three columns the comments
take from them travel whole to every partition of comments.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import dask.dataframe as dd
import pandas as pd

from reception.data.dask_runtime import HIVE_COLUMNS, by_thread, map_parts, partitions_for, read_grouped, sorted_by

TABLES = ("fact_comments", "fact_posts", "dim_subreddit", "dim_author")  # in the order the report counts them


def read_bronze(bronze_dir: Path, entity: str, partition_rows: int) -> tuple[dd.DataFrame, int]:
    """A bronze entity's day files as partitions of about `partition_rows` rows, and its rows."""
    return read_grouped(bronze_dir / entity, partition_rows)


def read_small(bronze_dir: Path, entity: str, columns: list[str] | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(bronze_dir / entity, columns=columns)
    return frame.drop(columns=[c for c in HIVE_COLUMNS if c in frame])


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


def build_dim_author(comments: dd.DataFrame, posts: dd.DataFrame, npartitions: int) -> dd.DataFrame:
    """Per author: comments, posts, first and last activity; `npartitions` partitions by a hash of the
    author, each sorted by author."""
    activity = dd.concat([
        comments[["author", "created_utc"]].assign(n_comments=1, n_posts=0),
        posts[["author", "created_utc"]].assign(n_comments=0, n_posts=1),
    ]).dropna(subset=["author"])
    dim = activity.groupby("author").agg(
        n_comments=("n_comments", "sum"), n_posts=("n_posts", "sum"),
        first_seen_utc=("created_utc", "min"), last_seen_utc=("created_utc", "max"), split_out=npartitions)
    return dim.reset_index().map_partitions(sorted_by, "author")


def silver_tables(bronze_dir: Path, partition_rows: int) -> dict[str, dd.DataFrame | pd.DataFrame]:
    """Every silver table by name (TABLES), from the bronze entities under `bronze_dir`, in partitions of
    about `partition_rows` rows (params silver.partition_rows); dim_subreddit, small, as one pandas frame."""
    (comments, n_comments), (posts, n_posts) = (read_bronze(bronze_dir, entity, partition_rows)
                                                for entity in ("comments", "posts"))
    # The small tables are read whole, by pandas (no graph to plan for a few rows in many files).
    subreddits, hot = read_small(bronze_dir, "subreddits"), read_small(bronze_dir, "hot_sublists")
    threads = read_small(bronze_dir, "posts", ["id", "subreddit", "created_utc"])
    join = partial(build_fact_comments, posts=threads)
    fact = by_thread(comments, partitions_for(n_comments, partition_rows), order="comment_id")
    return {
        "fact_comments": map_parts(fact, join),
        "fact_posts": by_thread(posts, partitions_for(n_posts, partition_rows), key="id", order="id"),
        "dim_subreddit": build_dim_subreddit(subreddits, threads, hot),
        "dim_author": build_dim_author(comments, posts, partitions_for(n_comments + n_posts, partition_rows)),
    }


def part_counts(name: str, part: pd.DataFrame) -> dict:
    """What silver_report adds up of one written part of table `name`: its rows and, for fact_comments (whole
    threads per part), its threads and those without a post row."""
    counts = {"rows": len(part)}
    if name == "fact_comments":
        orphans = part.loc[~part["post_known"]]
        counts.update(threads=int(part["post_id"].nunique()), threads_without_post=int(orphans["post_id"].nunique()),
                      comments_without_post=len(orphans))
    return counts


def silver_report(counts: dict[str, list[dict]]) -> dict:
    """Rows per table, threads, and the threads and comments without a post row, from part_counts of every
    part (a thread lies in one part of fact_comments: its threads add up)."""
    fact = counts["fact_comments"]
    return {
        **{f"{name}_rows": sum(part["rows"] for part in counts[name]) for name in TABLES},
        **{key: sum(part[key] for part in fact)
           for key in ("threads", "threads_without_post", "comments_without_post")},
    }
