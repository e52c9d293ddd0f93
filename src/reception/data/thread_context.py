"""The thread as its writer saw it: where a comment sits in its thread at the moment it is written, and who
talks to whom there.

Rebuilt from the thread's other comments (ids, parents, times; authors and the submitter's flag when given)
and nothing else: for each target comment
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

and who talks to whom (CONVERSATION_COLUMNS), from the pseudonymised `author` of each comment and target
(missing: unknown, as a deleted account: no equality is drawn from it) and each comment's `is_submitter`
(the post's author wrote it); both columns are optional (absent: every author unknown, nobody the submitter):
  author_earlier_comments     comments of the thread its own author wrote before it (0: unknown author)
  replies_back                1 when it answers a reply to its own author's comment (its parent's parent,
                              written before it, has its author): the back-and-forth of an exchange
  replies_to_submitter        1 when its parent is a comment of the post's author written before it
  parent_author_earlier       comments of the thread its parent comment's author wrote before it, the
                              parent included (0: a reply to the post, or an unknown parent or author)

A reply whose parent is not among the earlier comments (not given, removed from the data, or written
later, which contradicts the data) has an unknown parent: depth, minutes_since_parent and
parent_position are NaN, and a model reads NaN as "unknown".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CONVERSATION_COLUMNS = ("author_earlier_comments", "replies_back", "replies_to_submitter", "parent_author_earlier")
CONTEXT_COLUMNS = ("depth", "minutes_since_parent", "parent_position", "earlier_replies_to_parent",
                   "comments_so_far", "comments_per_hour_so_far", *CONVERSATION_COLUMNS)
# What the computation reads: of the context comments and of the targets alike; and, optionally, `author` (of
# both) and `is_submitter` (of the context comments).
INPUT_COLUMNS = ("post_id", "comment_id", "parent_id", "created_utc", "thread_start_utc")
POST_PREFIX, COMMENT_PREFIX = "t3_", "t1_"


def thread_context(comments: pd.DataFrame, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """CONTEXT_COLUMNS for each row of `targets` (default: `comments` themselves), on targets' index.

    Both frames need INPUT_COLUMNS (a target's comment_id may be null: a draft has none yet; a comment
    without an id is nobody's parent); ids compare as strings. Threads are independent: a partition
    holding whole threads gives the same values as the whole table. The rule is array arithmetic (sorts,
    binary searches, one pass over the comments for their depths), so a training partition and a
    request's thread run the same code at the cost of their own size: data-frame joins would add a fixed
    cost of several milliseconds to every request.
    """
    own = targets is None
    targets = comments if own else targets
    frames = (comments,) if own else (comments, targets)
    n = len(comments)
    at = slice(0, n) if own else slice(n, None)  # the targets' rows in the arrays below

    def column(name: str, convert) -> np.ndarray:
        return np.concatenate([convert(frame[name]) for frame in frames])

    times = column("created_utc", _times)
    if np.isnan(times).any():
        raise ValueError("thread_context needs every comment's and every target's created_utc")
    rank = np.unique(times, return_inverse=True)[1].reshape(-1)  # equal times, equal ranks
    thread = pd.factorize(column("post_id", _strings), use_na_sentinel=False)[0].astype(np.int64)
    # Parents and the comments' own t1_ ids in one code space, so that a parent finds its comment by code.
    comment_id = _strings(comments["comment_id"])
    no_id = pd.isna(comment_id)
    ids, names = pd.factorize(np.concatenate([column("parent_id", _strings),
                                              COMMENT_PREFIX + np.where(no_id, "", comment_id)]),
                              use_na_sentinel=False)
    parent, own_id = ids[:len(ids) - n], ids[len(ids) - n:]
    to_post = np.array([isinstance(name, str) and name.startswith(POST_PREFIX) for name in names], dtype=bool)[parent]

    id_key = np.where(no_id, -1, thread[:n] * len(names) + own_id)
    parent_row = _rows_of(id_key, thread * len(names) + parent)  # among the comments; -1: not given
    parent_time = np.where(parent_row >= 0, times[parent_row], np.nan)
    seen = parent_time < times  # NaN (no such comment) compares False
    position = _count_before(thread[:n], rank[:n], thread[:n], rank[:n]) + 1.0
    depth = _depths(parent_row[:n], seen[:n] & ~to_post[:n], to_post[:n], times[:n])
    depth, position = np.append(depth, np.nan), np.append(position, np.nan)  # row -1: no such parent

    so_far = _count_before(thread[:n], rank[:n], thread[at], rank[at])
    pair = pd.factorize(thread * len(names) + parent)[0].astype(np.int64)
    replies = _count_before(pair[:n], rank[:n], pair[at], rank[at])
    created, start = times[at], _times(targets["thread_start_utc"])
    conversation = _conversation(frames, n, at, thread, rank, parent_row, seen & ~to_post, times)
    row, seen, to_post = parent_row[at], seen[at], to_post[at]
    values = (  # in the order of CONTEXT_COLUMNS
        np.where(to_post, 0.0, np.where(seen, depth[row] + 1, np.nan)),
        np.where(to_post, np.maximum(created - start, 0) / 60,
                 np.where(seen, (created - parent_time[at]) / 60, np.nan)),
        np.where(to_post, 0.0, np.where(seen, position[row], np.nan)),
        replies,
        so_far,
        so_far / np.maximum((created - start) / 3600, 1 / 60),
        *conversation,
    )
    return pd.DataFrame(np.column_stack(values), columns=list(CONTEXT_COLUMNS), index=targets.index)


def _conversation(frames: tuple[pd.DataFrame, ...], n: int, at: slice, thread: np.ndarray, rank: np.ndarray,
                  parent_row: np.ndarray, reply_seen: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
    """CONVERSATION_COLUMNS of the targets (`at`) from the rows of `frames` (the comments' n rows first):
    `parent_row` (-1: none) and `reply_seen` (its parent is a comment written before it) per row."""
    author = pd.factorize(np.concatenate([
        frame["author"].to_numpy(dtype=object, na_value=np.nan) if "author" in frame
        else np.full(len(frame), np.nan, dtype=object) for frame in frames]))[0]  # missing: -1
    comments = frames[0]
    submitter = np.append(comments["is_submitter"].to_numpy(dtype="float64", na_value=0.0) > 0
                          if "is_submitter" in comments else np.zeros(n, dtype=bool), False)  # [-1]: no parent
    own, row = author[at], np.where(reply_seen[at], parent_row[at], -1)
    parent_author = np.where(row >= 0, author[row], -1)
    grandparent = np.where(row >= 0, parent_row[row], -1)
    back = (grandparent >= 0) & (times[grandparent] < times[at]) & (own >= 0) & (author[grandparent] == own)
    # Comments by one author in one thread: compact codes for (thread, author), the targets' own and their
    # parents' authors' in the same code space; -1 never counted.
    known, span = author[:n] >= 0, author.max(initial=0) + 1
    pairs = pd.factorize(np.concatenate([thread[:n][known] * span + author[:n][known],
                                         thread[at] * span + np.maximum(own, 0),
                                         thread[at] * span + np.maximum(parent_author, 0)]))[0]
    written, mine, parents = np.split(pairs, [int(known.sum()), int(known.sum()) + len(own)])

    def before(groups: np.ndarray, valid: np.ndarray) -> np.ndarray:
        return np.where(valid, _count_before(written, rank[:n][known], groups, rank[at]), 0.0)
    return (before(mine, own >= 0), back.astype("float64"),
            submitter[row].astype("float64"), before(parents, parent_author >= 0))


def _times(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype="float64", na_value=np.nan)


def _strings(values: pd.Series) -> np.ndarray:
    """The values as strings (missing ones stay missing), as an object array."""
    if not pd.api.types.is_string_dtype(values):  # ids given as numbers compare as their strings
        values = values.astype(str)
    return values.to_numpy(dtype=object, na_value=np.nan)


def _rows_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each wanted key, the row of `keys` holding it, or -1 (a key of -1 is never found)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    if (np.diff(ordered[ordered >= 0]) == 0).any():
        raise ValueError("thread_context: two comments of one thread have the same comment_id")
    if not len(keys):
        return np.full(len(wanted), -1)
    found = np.minimum(np.searchsorted(ordered, wanted), len(keys) - 1)
    return np.where(ordered[found] == wanted, order[found], -1)


def _count_before(groups: np.ndarray, ranks: np.ndarray, at_groups: np.ndarray, at_ranks: np.ndarray) -> np.ndarray:
    """For each (at_group, at_rank): how many (group, rank) pairs share its group with a lower rank."""
    span = int(max(ranks.max(initial=0), at_ranks.max(initial=0))) + 1
    ordered = np.sort(groups * span + ranks)
    return (np.searchsorted(ordered, at_groups * span + at_ranks)
            - np.searchsorted(ordered, at_groups * span)).astype("float64")


def _depths(parent_row: np.ndarray, parent_seen: np.ndarray, to_post: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each comment's depth: 0 for a reply to the post, its parent's + 1 when the parent was written
    before it, else unknown (NaN). In time order, a parent's depth is known before its replies'."""
    depth = np.where(to_post, 0.0, np.nan).tolist()
    parents = parent_row.tolist()
    replies = np.flatnonzero(parent_seen)
    for row in replies[np.argsort(times[replies], kind="stable")].tolist():
        depth[row] = depth[parents[row]] + 1
    return np.array(depth, dtype="float64")
