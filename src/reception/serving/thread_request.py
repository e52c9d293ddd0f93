"""A request's thread, checked: what the caller sees on the page, turned into the GivenThread that
reception.data.features.resolve_inputs reads (and hands to thread_context, as training does).

A request gives at most one thread: when its post was created, the comments its page lists (comment_id
without the t1_ prefix, parent_id t3_<post> or t1_<comment>, created_utc) and, optionally, the page's
count of the thread's comments. Each text may give its parent_id. A parent the caller cannot see is
allowed (the features say "unknown"). What cannot be true is refused with a Contradiction that names both
sides: two comments with one id, a comment that replies to itself or is older than the listed comment it
replies to, a comment older than the post, top-level comments naming two posts; and, per text, a parent_id
that contradicts its is_top_level, a t3_ parent other than the thread's post, a post_created_utc other
than the thread's, a created_utc before the thread's post or before its listed parent. The logged ids
(comment_id, post_id) are not checked: they are never model inputs.

Authors (a text's and each listed comment's, optional) are replaced here, as the request is checked, by
pseudonyms under a key drawn at random for each process (reception.data.pseudonyms.pseudonym): the
conversation features compare them for equality only, within one request, and no name goes further (into
the model, the log or the answer). "[deleted]" is nobody, as in training.
"""
from __future__ import annotations

import secrets

import numpy as np
import pandas as pd

from reception.data.features import GivenThread
from reception.data.pseudonyms import pseudonym
from reception.data.thread_context import COMMENT_PREFIX, POST_PREFIX

# The columns of a comments table that requests_with_threads lists as a thread (the silver comments' names).
THREAD_LISTING = ("post_id", "comment_id", "parent_id", "created_utc", "author", "is_submitter")
# Equality of names within a request is all the features read: a key no file holds, new in every process.
REQUEST_AUTHOR_KEY = secrets.token_bytes(32)


def pseudonyms(names: list[str | None]) -> np.ndarray:
    return np.array([pseudonym(name, REQUEST_AUTHOR_KEY) for name in names], dtype=object)


class Contradiction(ValueError):
    """The request says two things that cannot both be true; the message names both."""


def given_thread(post_created_utc: float, comment_id: list[str], parent_id: list[str], created_utc: list[float],
                 comments_so_far: int | None = None, author: list[str | None] | None = None,
                 is_submitter: list[bool | None] | None = None) -> GivenThread:
    """The thread of a request, from its fields (one list per comment field, in the listed order; the
    comments' author names, pseudonymised here, and is_submitter flags are optional: None is not given)."""
    times = np.asarray(created_utc, dtype="float64")
    first: dict[str, int] = {}
    for i, cid in enumerate(comment_id):
        j = first.setdefault(cid, i)
        if j != i:
            raise Contradiction(f"thread.comments[{j}] and thread.comments[{i}] have the same comment_id '{cid}'")
    early = np.flatnonzero(times < post_created_utc)
    if len(early):
        i = int(early[0])
        raise Contradiction(f"thread.comments[{i}].created_utc ({times[i]:.0f}) is before thread.post_created_utc "
                            f"({post_created_utc:.0f}): a thread starts before its comments")
    posts: dict[str, int] = {}
    for i, parent in enumerate(parent_id):
        if parent.startswith(POST_PREFIX):
            posts.setdefault(parent, i)
            if len(posts) > 1:
                (a, j), (b, k) = list(posts.items())[:2]
                raise Contradiction(f"thread.comments[{j}] replies to post '{a}' and thread.comments[{k}] to post "
                                    f"'{b}': the comments of one thread reply to one post")
            continue
        j = first.get(parent[len(COMMENT_PREFIX):])
        if j == i:
            raise Contradiction(f"thread.comments[{i}] ('{comment_id[i]}') replies to itself")
        if j is not None and times[i] < times[j]:
            raise Contradiction(f"thread.comments[{i}] ('{comment_id[i]}', created_utc {times[i]:.0f}) replies to "
                                f"thread.comments[{j}] ('{comment_id[j]}', created_utc {times[j]:.0f}), which "
                                "was written after it")
    return GivenThread(float(post_created_utc), np.asarray(comment_id, dtype=object),
                       np.asarray(parent_id, dtype=object), times, next(iter(posts), POST_PREFIX), comments_so_far,
                       None if author is None else pseudonyms(author),
                       None if is_submitter is None else np.array([bool(v) for v in is_submitter], dtype=bool))


def check_text(record: dict, where: str, thread: GivenThread | None, listed: dict[str, int]) -> None:
    """One text's metadata against itself and its request's thread (`listed`: its comment ids' positions);
    `where` names it in messages ("" for a request's one text, "metadata[2]." for a batch's third)."""
    parent, top = record.get("parent_id"), record.get("is_top_level")
    if parent is not None and top is not None and parent.startswith(POST_PREFIX) != top:
        raise Contradiction(f"{where}parent_id '{parent}' (a reply to {'the post' if top is False else 'a comment'}) "
                            f"contradicts {where}is_top_level {str(top).lower()}")
    if thread is None:
        return
    if parent is not None and parent.startswith(POST_PREFIX) and thread.post_parent_id not in (POST_PREFIX, parent):
        raise Contradiction(f"{where}parent_id '{parent}' names another post than the thread's comments "
                            f"('{thread.post_parent_id}')")
    start = record.get("post_created_utc")
    if start is not None and start != thread.post_created_utc:
        raise Contradiction(f"{where}post_created_utc ({start:.0f}) differs from thread.post_created_utc "
                            f"({thread.post_created_utc:.0f})")
    created = record.get("created_utc")
    if created is not None and created < thread.post_created_utc:
        raise Contradiction(f"{where}created_utc ({created:.0f}) is before thread.post_created_utc "
                            f"({thread.post_created_utc:.0f}): a thread starts before its comments")
    j = listed.get(parent[len(COMMENT_PREFIX):]) if parent is not None and parent.startswith(COMMENT_PREFIX) else None
    if created is not None and j is not None and created < thread.created_utc[j]:
        raise Contradiction(f"{where}created_utc ({created:.0f}) is before its parent thread.comments[{j}] "
                            f"('{thread.comment_id[j]}', created_utc {thread.created_utc[j]:.0f})")


def with_thread(records: list[dict], thread: GivenThread | None, where: list[str]) -> list[dict]:
    """The request's records, each checked (check_text), its author (if given) pseudonymised and holding
    the thread (the same object: one thread_context call serves them all)."""
    listed = {} if thread is None else {cid: i for i, cid in enumerate(thread.comment_id)}
    for record, name in zip(records, where, strict=True):
        check_text(record, name, thread, listed)
    records = [{**record, "author": pseudonym(record["author"], REQUEST_AUTHOR_KEY)} if "author" in record else record
               for record in records]
    return records if thread is None else [{**record, "thread": thread} for record in records]


def requests_with_threads(rows: pd.DataFrame, comments: pd.DataFrame) -> list[dict]:
    """What a client who sees each row's whole thread sends, one record per row in the rows' order: its
    comment_id, the raw `body` as text, created_utc, post_created_utc (the thread's start), is_top_level,
    parent_id, its author (its comment's in `comments`), and the thread listing every comment of `comments`
    (THREAD_LISTING: the silver comments, deleted ones included, as training builds the context) in the row's
    thread; one checked GivenThread per thread, shared by its records (one thread_context call serves them)."""
    rows, records = rows.reset_index(drop=True), {}
    listed_by_thread = comments[comments["post_id"].isin(rows["post_id"])].groupby("post_id", sort=False)
    for post_id, own in rows.groupby("post_id", sort=False):  # one check of each thread's listing
        thread, author_of = None, {}
        if post_id in listed_by_thread.groups:
            listed = listed_by_thread.get_group(post_id)
            ids, authors = listed["comment_id"].astype(str).tolist(), listed["author"].astype(object).tolist()
            thread = given_thread(float(own["thread_start_utc"].iloc[0]), ids, listed["parent_id"].astype(str).tolist(),
                                  listed["created_utc"].astype("float64").tolist(), author=authors,
                                  is_submitter=listed["is_submitter"].fillna(False).astype(bool).tolist())
            author_of = dict(zip(ids, authors, strict=True))
        texts = [{"comment_id": str(row.comment_id), "text": row.body, "created_utc": float(row.created_utc),
                  "post_created_utc": float(row.thread_start_utc), "is_top_level": bool(row.is_top_level),
                  "parent_id": str(row.parent_id), "author": author_of.get(str(row.comment_id))}
                 for row in own.itertuples()]
        checked = with_thread(texts, thread, [f"{text['comment_id']}." for text in texts])
        records.update(zip(own.index, checked, strict=True))
    return [records[i] for i in rows.index]
