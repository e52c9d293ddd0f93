"""The thread as its writer saw it: where a comment sits in its thread at the moment it is written.

Rebuilt from the thread's other comments (ids, parents, times) and nothing else: for each target comment
only the comments of its thread written strictly before its own `created_utc` count, whatever else is
given (later comments, the comment itself, scores). The same function serves training (the targets are
the comments themselves, one call per partition of whole threads) and a request (the targets are the
texts to score, the context the thread the caller sees), so both compute the same values.

Per target:
  depth                       0 for a reply to the post, the parent's depth + 1 for a reply to a comment
  minutes_since_parent        since the post (the thread's start) or the parent comment was written
  parent_position             0 for the post, else the parent comment's position in the thread (1 = first)
  earlier_replies_to_parent   replies to the same parent written before it
  comments_so_far             comments of the thread written before it
  comments_per_hour_so_far    comments_so_far over the thread's age (at least one minute), per hour

A reply whose parent is not among the earlier comments (not given, removed from the data, or written
later, which contradicts the data) has an unknown parent: depth, minutes_since_parent and
parent_position are NaN, and a model reads NaN as "unknown".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CONTEXT_COLUMNS = ("depth", "minutes_since_parent", "parent_position", "earlier_replies_to_parent",
                   "comments_so_far", "comments_per_hour_so_far")
# What the computation reads: of the context comments and of the targets alike.
INPUT_COLUMNS = ("post_id", "comment_id", "parent_id", "created_utc", "thread_start_utc")
POST_PREFIX, COMMENT_PREFIX = "t3_", "t1_"


def thread_context(comments: pd.DataFrame, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """CONTEXT_COLUMNS for each row of `targets` (default: `comments` themselves), on targets' index.

    Both frames need INPUT_COLUMNS (a target's comment_id may be null: a draft has none yet). Threads
    are independent: a partition holding whole threads gives the same values as the whole table. Counts
    of earlier comments are as-of joins on time that exclude equal times (`allow_exact_matches=False`).
    """
    targets = comments if targets is None else targets
    context = _ordered_context(comments)
    rows = targets[list(INPUT_COLUMNS)].assign(
        _row=np.arange(len(targets)), created_utc=targets["created_utc"].astype("float64"),
        thread_start_utc=targets["thread_start_utc"].astype("float64"),
        post_id=targets["post_id"].astype(str), parent_id=targets["parent_id"].astype(str),
    ).sort_values(["created_utc", "_row"], kind="stable")

    def count_before(by: list[str], counted: str) -> np.ndarray:
        found = pd.merge_asof(rows[["created_utc", "_row", *by]], context[["created_utc", *by, counted]],
                              on="created_utc", by=by, allow_exact_matches=False)
        return found.sort_values("_row")[counted].fillna(0).to_numpy(dtype="float64")

    so_far = count_before(["post_id"], "_nth_in_thread")
    replies = count_before(["post_id", "parent_id"], "_nth_reply")
    rows = rows.sort_values("_row")
    parent = rows[["post_id", "parent_id", "created_utc"]].merge(
        context[["post_id", "_as_parent", "created_utc", "_depth", "_position"]],
        left_on=["post_id", "parent_id"], right_on=["post_id", "_as_parent"], how="left", suffixes=("", "_parent"),
        validate="many_to_one")
    created, start = rows["created_utc"].to_numpy(), rows["thread_start_utc"].to_numpy()
    parent_time = parent["created_utc_parent"].to_numpy(dtype="float64")
    seen = parent_time < created  # NaN (no such comment) compares False
    to_post = rows["parent_id"].str.startswith(POST_PREFIX).to_numpy()
    values = {
        "depth": np.where(to_post, 0.0, np.where(seen, parent["_depth"].to_numpy(dtype="float64") + 1, np.nan)),
        "minutes_since_parent": np.where(to_post, np.maximum(created - start, 0) / 60,
                                         np.where(seen, (created - parent_time) / 60, np.nan)),
        "parent_position": np.where(to_post, 0.0,
                                    np.where(seen, parent["_position"].to_numpy(dtype="float64"), np.nan)),
        "earlier_replies_to_parent": replies,
        "comments_so_far": so_far,
        "comments_per_hour_so_far": so_far / np.maximum((created - start) / 3600, 1 / 60),
    }
    return pd.DataFrame(values, columns=list(CONTEXT_COLUMNS), index=targets.index)


def _ordered_context(comments: pd.DataFrame) -> pd.DataFrame:
    """The context comments in time order (the as-of joins need it) with, per comment: its running count
    in its thread and among its parent's replies, its position (1 + comments strictly before it), its
    `t1_` id as a parent, and its depth (unknown when its own parent was not written before it)."""
    context = comments[list(INPUT_COLUMNS)].assign(
        created_utc=comments["created_utc"].astype("float64"), post_id=comments["post_id"].astype(str),
        parent_id=comments["parent_id"].astype(str), comment_id=comments["comment_id"].astype(str),
    ).sort_values(["created_utc", "comment_id"], kind="stable").reset_index(drop=True)
    by_thread = context.groupby("post_id", sort=False)["created_utc"]
    context["_nth_in_thread"] = by_thread.cumcount() + 1
    context["_position"] = by_thread.rank(method="min")
    context["_nth_reply"] = context.groupby(["post_id", "parent_id"], sort=False).cumcount() + 1
    context["_as_parent"] = COMMENT_PREFIX + context["comment_id"]
    depth: dict[str, tuple[float, float]] = {}  # t1_ id -> (time, depth); filled in time order
    for as_parent, parent_id, time in zip(context["_as_parent"], context["parent_id"], context["created_utc"],
                                          strict=True):
        if parent_id.startswith(POST_PREFIX):
            depth[as_parent] = (time, 0.0)
            continue
        parent_time, parent_depth = depth.get(parent_id, (np.inf, np.nan))
        depth[as_parent] = (time, parent_depth + 1 if parent_time < time else np.nan)
    context["_depth"] = [depth[p][1] for p in context["_as_parent"]]
    return context
