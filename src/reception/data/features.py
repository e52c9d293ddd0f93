"""Metadata known when a comment is written, as the families that read it and the service both compute it.

Inputs per comment: the normalised body (for its length and punctuation), `created_utc`,
`thread_start_utc`, `is_top_level` (a reply to the post rather than to a comment) and the thread as its
writer saw it (reception.data.thread_context: depth, minutes since the parent, the parent's position,
earlier replies to the parent, comments so far and their rate, and who talks to whom, from the authors'
pseudonyms compared for equality only); `is_submitter` (the post's author wrote it)
is computed as a candidate the ablation tries, and not read by the served model.
The thread starts at the post's `created_utc` when the post is known, else at the thread's first comment.
The score and anything computed from it, and any comment written later, are never inputs.
`metadata_features` reads its columns by name, from a training DataFrame or from the dict of arrays the
request path builds (no pandas frame per request: that cost more than the classifier).

The kept groups (FEATURE_GROUPS) are those whose removal lowers the thread-CV ROC-AUC (fold mean) in the
ablation (reception.models.ablation, metrics/ablation.json); CANDIDATE_GROUPS were tried and did not earn a place:
the ablation adds each back and reports the change, so the choice is re-checked at every run.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reception.data.text import text_features
from reception.data.thread_context import (
    COMMENT_PREFIX,
    CONTEXT_COLUMNS,
    CONVERSATION_COLUMNS,
    POST_PREFIX,
    thread_context,
)

# Groups of metadata features: what the ablation removes (kept) or adds (candidate) one at a time, and
# what an explanation names. The API inputs each group reads (besides the text) are in GROUP_INPUTS.
FEATURE_GROUPS = {"reply_structure": ("is_top_level",),
                  "length_punctuation": ("log_text_len", "log_word_count", "has_exclamation", "has_question"),
                  "hour_of_day": ("hour_sin", "hour_cos"), "timing": ("log_minutes_since_thread_start",),
                  # The thread as its writer saw it, in two groups (exact Shapley values cost 2^groups): where
                  # the comment sits (its parent and depth) and how busy the thread already is.
                  "thread_position": ("parent_unknown", "log_depth", "log_minutes_since_parent",
                                      "log_parent_position", "log_earlier_replies_to_parent"),
                  "thread_activity": ("log_comments_so_far", "log_comments_per_hour_so_far"),
                  # Who talks to whom, from the authors' pseudonyms (equality only): the corpus profile's
                  # ablation lowers thread_gbm's fold mean by 0.008 without it, the most of any group.
                  "conversation": ("log_author_earlier_comments", "replies_back", "replies_to_submitter",
                                   "log_parent_author_earlier")}
CANDIDATE_GROUPS = {"submitter": ("is_submitter",)}
GROUP_INPUTS = {"submitter": ("is_submitter",), "reply_structure": ("is_top_level",), "length_punctuation": (),
                "hour_of_day": ("created_utc",), "timing": ("created_utc", "post_created_utc"),
                "thread_position": ("thread", "parent_id", "is_top_level", "created_utc", "post_created_utc"),
                "thread_activity": ("thread", "created_utc", "post_created_utc"),
                "conversation": ("thread", "author", "parent_id", "created_utc")}
METADATA_FEATURES = tuple(f for members in FEATURE_GROUPS.values() for f in members)
CANDIDATE_FEATURES = tuple(f for members in CANDIDATE_GROUPS.values() for f in members)
# The columns the kept features read (besides the text's): a training table's, or a request's (resolve_inputs).
METADATA_INPUTS = ("created_utc", "thread_start_utc", "is_top_level", *CONTEXT_COLUMNS)
CANDIDATE_INPUTS = ("is_submitter",)  # training columns only a candidate group reads
# The metadata columns of the training matrices (after the embedding) that train and ablation compare:
# the kept features first, so that a served model's columns are a prefix.
ALL_FEATURES = (*METADATA_FEATURES, *CANDIDATE_FEATURES)


def feature_columns(features, embedding_dim: int) -> list[int]:
    """Column indices of the embedding and of `features` in a matrix of the embedding then ALL_FEATURES."""
    return [*range(embedding_dim), *(embedding_dim + ALL_FEATURES.index(f) for f in features)]


def ablation_variants() -> list[tuple[str, str, tuple[str, ...]]]:
    """(variant, group, features) compared with the kept features: ("without", g, the kept features less
    g's) for each kept group, then ("with_candidate", g, the kept features and g's) for each candidate."""
    return [*(("without", group, tuple(f for f in METADATA_FEATURES if f not in members))
              for group, members in FEATURE_GROUPS.items()),
            *(("with_candidate", group, (*METADATA_FEATURES, *members)) for group, members in CANDIDATE_GROUPS.items())]


def supported(variant: str, change: float) -> bool:
    """The ablation's rule on the thread-CV fold mean: a kept group stays only if removing it lowers it, a
    candidate joins only if adding it raises it."""
    return change < 0 if variant == "without" else change > 0


def is_top_level(parent_id: pd.Series) -> pd.Series:
    """Reddit prefixes a post's id with t3_ and a comment's with t1_."""
    return parent_id.str.startswith("t3_").astype("bool")


def thread_start_utc(comments: pd.DataFrame) -> pd.Series:
    """Per comment: the post's created_utc when the post is known, else the thread's first comment time."""
    first_comment = comments.groupby("post_id")["created_utc"].transform("min").astype("float64")
    post_created = comments["post_created_utc"].astype("float64")
    return post_created.where(comments["post_known"].astype(bool) & post_created.notna(), first_comment)


def comments_before(comments: pd.DataFrame) -> pd.Series:
    """Per comment: how many comments of its thread were written before it (deleted ones included), i.e. its
    order in the thread minus one, which is known when it is written (timing_rank's input)."""
    return (comments.groupby("post_id")["created_utc"].rank(method="min").astype("int64") - 1)


def minutes_since_thread_start(created_utc, thread_start_utc) -> np.ndarray:
    """Thread age when the comment was written, in minutes, never below 0 (a comment timestamped a little
    before its post is treated as written at the start)."""
    created, start = np.asarray(created_utc, dtype="float64"), np.asarray(thread_start_utc, dtype="float64")
    return np.maximum((created - start) / 60, 0)


def metadata_features(columns: Mapping, features: tuple[str, ...] = METADATA_FEATURES) -> np.ndarray:
    """The matrix (float64) of `features` (default: the kept METADATA_FEATURES; the ablation also asks for
    CANDIDATE_FEATURES) from the columns text_len, word_count, the two punctuation flags and the inputs
    they read. Hour of day is cyclic (sin/cos); counts and thread age are log-scaled."""
    def column(name: str) -> np.ndarray:
        return np.asarray(columns[name], dtype="float64")

    created = column("created_utc")
    hour = (created % 86400) / 3600
    minutes = minutes_since_thread_start(created, column("thread_start_utc"))
    # An unknown parent (not among the comments written before it) is a flag, its values 0: one matrix
    # without NaN serves the logistic hybrid and the trees alike.
    unknown = np.isnan(column("depth"))

    def known(name: str) -> np.ndarray:
        return np.log1p(np.where(unknown, 0.0, np.maximum(column(name), 0)))
    values = {
        "is_top_level": column("is_top_level"),
        "log_text_len": np.log1p(column("text_len")),
        "log_word_count": np.log1p(column("word_count")),
        "has_exclamation": column("has_exclamation"),
        "has_question": column("has_question"),
        "hour_sin": np.sin(2 * np.pi * hour / 24),
        "hour_cos": np.cos(2 * np.pi * hour / 24),
        "log_minutes_since_thread_start": np.log1p(minutes),
        "parent_unknown": unknown.astype("float64"),
        "log_depth": known("depth"),
        "log_minutes_since_parent": known("minutes_since_parent"),
        "log_parent_position": known("parent_position"),
        "log_earlier_replies_to_parent": np.log1p(column("earlier_replies_to_parent")),
        "log_comments_so_far": np.log1p(column("comments_so_far")),
        "log_comments_per_hour_so_far": np.log1p(column("comments_per_hour_so_far")),
        "log_author_earlier_comments": np.log1p(column("author_earlier_comments")),
        "replies_back": column("replies_back"),
        "replies_to_submitter": column("replies_to_submitter"),
        "log_parent_author_earlier": np.log1p(column("parent_author_earlier")),
    }
    if "is_submitter" in features:  # a candidate: training columns only, never a request's
        values["is_submitter"] = column("is_submitter")
    return np.column_stack([values[name] for name in features])


def request_columns(normalized_texts: list[str], metadata: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns metadata_features reads, from normalised texts and their METADATA_INPUTS."""
    text = text_features(pd.Series(normalized_texts, dtype="object"))
    return {**{name: text[name].to_numpy() for name in text.columns}, **metadata}


# What a request may give per text: every API input is accepted; READ_INPUTS are those the kept groups read. An
# input not read (is_submitter: its group was dropped by the ablation) is neither given a default nor listed in
# inputs_used, so inputs_used names exactly what the model read. The thread is given once per request (a
# GivenThread in each of its records), not per text.
API_INPUTS = ("created_utc", "post_created_utc", "is_submitter", "is_top_level", "parent_id")
READ_INPUTS = tuple(name for name in API_INPUTS
                    if any(name in GROUP_INPUTS[group] for group in FEATURE_GROUPS))
THREAD = "thread"  # the source of a value derived from the request's thread


@dataclass(frozen=True, eq=False)
class GivenThread:
    """A request's thread as its caller sees the page: the listed comments (`comment_id` without its t1_
    prefix, `parent_id` t3_<post> or t1_<comment>, `created_utc`), when the post was created, the t3_ id its
    top-level comments name (`post_parent_id`, "t3_" when none is listed) and, optionally, the page's count
    of the thread's comments (`comments_so_far`): the floor of comments_so_far for a text written after
    every listed comment, where the page may hide some; the comments' authors, pseudonymised, and which
    of them the post's author wrote, when given. reception.serving.thread_request builds it from a
    request, checked; every record of one request holds the same object."""
    post_created_utc: float
    comment_id: np.ndarray  # str
    parent_id: np.ndarray  # str
    created_utc: np.ndarray  # float64
    post_parent_id: str = "t3_"
    comments_so_far: int | None = None
    author: np.ndarray | None = None  # object: each comment's author pseudonym, None when not given
    is_submitter: np.ndarray | None = None  # bool: the post's author wrote the comment

    @property
    def last_listed_utc(self) -> float:
        return float(self.created_utc.max()) if len(self.created_utc) else -np.inf


def training_defaults(train: pd.DataFrame) -> dict:
    """What an absent API input stands for: the training rows' majority flag, median thread age, and the
    median counts of the thread context a request without its thread cannot derive."""
    minutes = (train["created_utc"].astype("float64") - train["thread_start_utc"].astype("float64")) / 60
    return {"is_top_level": bool(train["is_top_level"].astype(bool).mean() >= 0.5),
            "minutes_since_thread_start": round(float(minutes.clip(lower=0).median()), 1),
            "earlier_replies_to_parent": float(train["earlier_replies_to_parent"].median()),
            "comments_so_far": float(train["comments_so_far"].median())}


# Without the thread nobody is known to have written anything before the comment: as in training for an
# unknown (deleted) author.
NO_CONVERSATION = "default: 0, no thread given (as an unknown author in training)"
NO_AUTHOR = "thread: no author given for the text (0, as an unknown author in training)"


def context_without_thread(created: float, start: float, top_level: bool, defaults: dict) -> dict[str, tuple]:
    """The thread context of a comment whose thread the caller did not give: {column: (value, source)}.
    A reply to the post is at depth 0 with the post as its parent; a reply to a comment has an unknown
    parent (NaN, as in training when the parent is missing); the counts take the training medians."""
    age_minutes = max(created - start, 0) / 60
    so_far = defaults["comments_so_far"]
    counts = "default: training median (no thread given)"
    parent = ((0.0, "reply to the post"), (age_minutes, "minutes since post_created_utc"), (0.0, "the post")) \
        if top_level else ((np.nan, "unknown: no thread given"),) * 3
    return {"depth": parent[0], "minutes_since_parent": parent[1], "parent_position": parent[2],
            "earlier_replies_to_parent": (defaults["earlier_replies_to_parent"], counts),
            "comments_so_far": (so_far, counts),
            "comments_per_hour_so_far": (so_far / max(age_minutes / 60, 1 / 60),
                                         "comments_so_far over the thread's age"),
            **dict.fromkeys(CONVERSATION_COLUMNS, (0.0, NO_CONVERSATION))}



def context_from_threads(threads: list[GivenThread], targets: list[dict], defaults: dict) -> list[dict[str, tuple]]:
    """The thread context of texts whose request gave its thread, {column: (value, source)} per target
    ({"created_utc", "thread_start_utc", "is_top_level", "parent_id" (None: not given), "author" (a
    pseudonym; None: not given)}), computed by one
    thread_context call over every distinct thread (a scoring batch may hold several requests'): only the
    listed comments written before each text count. A text without parent_id is a reply to the post when
    is_top_level, else to an unknown comment (its earlier replies take the training median)."""
    keys: dict[int, int] = {}
    for thread in threads:
        keys.setdefault(id(thread), len(keys))
    distinct = list({id(t): t for t in threads}.values())  # in order of keys
    sizes = [len(t.comment_id) for t in distinct]
    comments = pd.DataFrame({
        "post_id": np.repeat(np.arange(len(distinct)), sizes).astype(str),
        "comment_id": np.concatenate([np.asarray(t.comment_id, dtype=object) for t in distinct]),
        "parent_id": np.concatenate([np.asarray(t.parent_id, dtype=object) for t in distinct]),
        "created_utc": np.concatenate([np.asarray(t.created_utc, dtype="float64") for t in distinct]),
        "thread_start_utc": np.repeat([t.post_created_utc for t in distinct], sizes).astype("float64"),
        "author": np.concatenate([np.full(size, None, dtype=object) if t.author is None else
                                  np.asarray(t.author, dtype=object) for t, size in zip(distinct, sizes, strict=True)]),
        "is_submitter": np.concatenate([np.zeros(size, dtype=bool) if t.is_submitter is None else
                                        np.asarray(t.is_submitter, dtype=bool)
                                        for t, size in zip(distinct, sizes, strict=True)])})
    no_parent = [t["parent_id"] is None and not t["is_top_level"] for t in targets]
    parents = [t["parent_id"] if t["parent_id"] is not None else thread.post_parent_id if t["is_top_level"]
               else COMMENT_PREFIX for t, thread in zip(targets, threads, strict=True)]
    created = np.array([t["created_utc"] for t in targets], dtype="float64")
    start = np.array([t["thread_start_utc"] for t in targets], dtype="float64")
    context = thread_context(comments, pd.DataFrame({
        "post_id": [str(keys[id(t)]) for t in threads], "comment_id": None, "parent_id": parents,
        "created_utc": created, "thread_start_utc": start,
        "author": pd.Series([t.get("author") for t in targets], dtype=object)})).to_dict("list")
    out = []
    for i, thread in enumerate(threads):
        row = {name: (context[name][i], THREAD) for name in CONTEXT_COLUMNS}
        if np.isnan(row["depth"][0]):
            unknown = "thread: no parent_id given" if no_parent[i] else \
                "thread: the parent is not among the listed comments written before it"
            row.update({name: (np.nan, unknown) for name in ("depth", "minutes_since_parent", "parent_position")})
        if targets[i].get("author") is None:
            row.update({name: (row[name][0], NO_AUTHOR) for name in ("author_earlier_comments", "replies_back")})
        if no_parent[i]:
            row["earlier_replies_to_parent"] = (defaults["earlier_replies_to_parent"],
                                                "default: training median (no parent_id given)")
        floor = thread.comments_so_far
        if floor is not None and created[i] > thread.last_listed_utc and floor > row["comments_so_far"][0]:
            row["comments_so_far"] = (float(floor), "thread: its comments_so_far (the page's count)")
            row["comments_per_hour_so_far"] = (floor / max((created[i] - start[i]) / 3600, 1 / 60), THREAD)
        out.append(row)
    return out


def resolve_inputs(records: list[dict], defaults: dict, now: float) -> tuple[dict[str, np.ndarray], list[dict]]:
    """METADATA_INPUTS per record from its optional READ_INPUTS (absent = missing or None) and its request's
    thread (`record["thread"]`: a GivenThread, optional), and for each record where every value it read came
    from: {"created_utc": {"value": ..., "source": "request"}, ...}, the thread context included. An API
    input outside READ_INPUTS (is_submitter) is accepted and ignored. `record["author"]`, optional: the text's
    author as a pseudonym (reception.serving.thread_request replaces a request's names), read with a thread only.

    Defaults: created_utc = `now` (the comment is being written); the thread started at the given thread's
    post_created_utc, else the training median thread age before created_utc; is_top_level follows
    parent_id (t3_: a reply to the post), else takes the training majority. The thread context: from the
    given thread (context_from_threads: thread_context, as in training), else context_without_thread.
    """
    age_s = 60 * defaults["minutes_since_thread_start"]
    default_source = {"created_utc": "default: time of the request",
                      "post_created_utc": f"default: {defaults['minutes_since_thread_start']} min before "
                                          "created_utc (training median thread age)",
                      "is_top_level": "default: training majority",
                      "parent_id": "default: not given (is_top_level says whether it replies to the post)"}
    rows, used, threaded = [], [], []
    for index, record in enumerate(records):
        given = {name: record[name] for name in READ_INPUTS if name in record and pd.notna(record[name])}
        thread: GivenThread | None = record.get("thread")
        source = dict.fromkeys(given, "request")
        created = float(given.get("created_utc", now))
        if "post_created_utc" in given:
            start = float(given["post_created_utc"])
        elif thread is not None:
            start, source["post_created_utc"] = thread.post_created_utc, THREAD
        else:
            start = created - age_s
        parent = str(given["parent_id"]) if "parent_id" in given else None
        if "is_top_level" in given:
            top = bool(given["is_top_level"])
        elif parent is not None:
            top, source["is_top_level"] = parent.startswith(POST_PREFIX), "parent_id"
        else:
            top = bool(defaults["is_top_level"])
        values = {"created_utc": created, "post_created_utc": start, "is_top_level": top, "parent_id": parent}
        rows.append({"created_utc": created, "thread_start_utc": start, "is_top_level": top, "parent_id": parent,
                     "author": record.get("author")})
        used.append({name: {"value": values[name], "source": source.get(name, default_source[name])}
                     for name in READ_INPUTS})
        if thread is not None:
            threaded.append(index)
        else:
            rows[-1].update(context_without_thread(created, start, top, defaults))
    if threaded:
        derived = context_from_threads([records[i]["thread"] for i in threaded], [rows[i] for i in threaded],
                                       defaults)
        for i, context in zip(threaded, derived, strict=True):
            rows[i].update(context)
    for row, inputs in zip(rows, used, strict=True):
        inputs.update({name: {"value": None if pd.isna(row[name][0]) else round(float(row[name][0]), 4),
                              "source": row[name][1]} for name in CONTEXT_COLUMNS})
    metadata = {name: np.array([row[name] for row in rows], dtype="float64")
                for name in ("created_utc", "thread_start_utc", "is_top_level")}
    return {**metadata, **{name: np.array([row[name][0] for row in rows], dtype="float64")
                           for name in CONTEXT_COLUMNS}}, used
