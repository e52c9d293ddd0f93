"""Thread context: what a comment's writer saw, from earlier comments only, the same for training and requests."""
import numpy as np
import pandas as pd
import pytest

from reception.data.thread_context import CONTEXT_COLUMNS, CONVERSATION_COLUMNS, thread_context

START = 1_000_000.0


def thread(post_id: str = "p", start: float = START) -> pd.DataFrame:
    """A post at `start`; c1 (1 min), c2 reply to c1 (2 min), c3 (3 min), c4 reply to c2 (5 min),
    c5 reply to c1 (10 min). Comment ids are c1.. in thread "p", <post_id>c1.. in another."""
    prefix = "" if post_id == "p" else post_id
    rows = [("c1", None, 60), ("c2", "c1", 120), ("c3", None, 180), ("c4", "c2", 300), ("c5", "c1", 600)]
    return pd.DataFrame({"post_id": post_id, "comment_id": [prefix + c for c, _, _ in rows],
                         "parent_id": [f"t1_{prefix}{p}" if p else f"t3_{post_id}" for _, p, _ in rows],
                         "created_utc": [start + s for _, _, s in rows], "thread_start_utc": start})


def test_each_comment_sees_its_depth_parent_and_earlier_comments():
    ctx = thread_context(thread())
    expected = {  # depth, minutes since parent, parent position, earlier replies to parent, comments so far
        "c1": (0, 1, 0, 0, 0), "c2": (1, 1, 1, 0, 1), "c3": (0, 3, 0, 1, 2),
        "c4": (2, 3, 2, 0, 3), "c5": (1, 9, 1, 1, 4)}
    for i, (depth, minutes, parent, replies, so_far) in enumerate(expected.values()):
        row = ctx.iloc[i]
        assert (row["depth"], row["minutes_since_parent"], row["parent_position"],
                row["earlier_replies_to_parent"], row["comments_so_far"]) == (depth, minutes, parent, replies, so_far)
    assert ctx.iloc[4]["comments_per_hour_so_far"] == pytest.approx(4 / (10 / 60))
    assert ctx.iloc[0]["comments_per_hour_so_far"] == 0


def test_later_comments_and_row_order_change_nothing():
    comments = thread()
    alone = thread_context(comments.iloc[:3])
    with_later = thread_context(comments.sample(frac=1, random_state=1))
    pd.testing.assert_frame_equal(with_later.loc[alone.index], alone)


def test_threads_are_independent_so_partitions_give_the_whole_tables_values():
    comments = pd.concat([thread("a"), thread("b", START + 5000)], ignore_index=True)
    whole = thread_context(comments)
    parts = pd.concat([thread_context(comments[comments["post_id"] == t]) for t in ("b", "a")]).loc[whole.index]
    pd.testing.assert_frame_equal(parts, whole)
    pd.testing.assert_frame_equal(whole.iloc[5:].reset_index(drop=True), whole.iloc[:5].reset_index(drop=True))


def test_a_parent_not_seen_before_the_comment_is_unknown():
    comments = thread()
    comments.loc[1, "created_utc"] = START + 30  # c2 now claims to predate its parent c1
    comments = pd.concat([comments, pd.DataFrame({"post_id": ["p"], "comment_id": ["c6"], "parent_id": ["t1_gone"],
                                                  "created_utc": [START + 700], "thread_start_utc": [START]})],
                         ignore_index=True)
    ctx = thread_context(comments)
    for row in (1, 5):  # c2 (parent written later) and c6 (parent absent)
        assert np.isnan(ctx.iloc[row][["depth", "minutes_since_parent", "parent_position"]]).all()
    assert np.isnan(ctx.iloc[3]["depth"])  # c4 replies to c2, whose depth is unknown
    assert ctx.iloc[5]["comments_so_far"] == 5


def test_a_request_draft_uses_only_the_comments_before_it():
    comments = thread()
    drafts = pd.DataFrame({"post_id": "p", "comment_id": [None, None], "parent_id": ["t1_c2", "t3_p"],
                           "created_utc": [START + 240, START + 60], "thread_start_utc": START})
    ctx = thread_context(comments, drafts)
    assert list(ctx.columns) == list(CONTEXT_COLUMNS)
    assert tuple(ctx.iloc[0][["depth", "minutes_since_parent", "parent_position", "comments_so_far"]]) == (2, 2, 2, 3)
    # written at the same second as c1: c1 is not "before" it
    assert tuple(ctx.iloc[1][["depth", "earlier_replies_to_parent", "comments_so_far"]]) == (0, 0, 0)
    assert thread_context(comments.iloc[:0], drafts).iloc[0].isna()[["depth", "parent_position"]].all()


def test_who_talks_to_whom_counts_only_earlier_comments_and_known_authors():
    """Authors of thread(): c1 ann (the submitter), c2 bob replying to ann, c3 ann, c4 ann answering bob's
    reply to her, c5 unknown replying to c1."""
    comments = thread().assign(author=["ann", "bob", "ann", "ann", None], is_submitter=[True, False, True, True, False])
    ctx = thread_context(comments)[list(CONVERSATION_COLUMNS)]
    assert ctx.to_dict("list") == {
        "author_earlier_comments": [0, 0, 1, 2, 0],  # c5's author is unknown: nothing is drawn from it
        "replies_back": [0, 0, 0, 1, 0],  # c4: ann answers bob, who answered ann's c1
        "replies_to_submitter": [0, 1, 0, 0, 1],
        "parent_author_earlier": [0, 1, 0, 1, 3]}  # c5: ann wrote c1, c3, c4 before it
    # a draft by bob replying to c4 before c4 was written sees neither c4 nor its author's later comments
    draft = pd.DataFrame({"post_id": "p", "comment_id": None, "parent_id": ["t1_c4", "t1_c3"], "author": "bob",
                          "created_utc": [START + 240, START + 240], "thread_start_utc": START})
    seen = thread_context(comments, draft)[list(CONVERSATION_COLUMNS)]
    assert seen.to_dict("list") == {"author_earlier_comments": [1, 1], "replies_back": [0, 0],
                                    "replies_to_submitter": [0, 1], "parent_author_earlier": [0, 2]}
    # without authors, nobody is known
    assert not thread_context(thread())[list(CONVERSATION_COLUMNS)].to_numpy().any()


def reference_context(comments: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """The module's rule read literally, one target at a time, in plain loops over the comments."""
    listed = list(comments.itertuples(index=False))

    def earlier(post_id: str, time: float) -> list:
        return [c for c in listed if c.post_id == post_id and c.created_utc < time]

    def parent_of(post_id: str, parent_id: str, time: float):
        return next((c for c in earlier(post_id, time) if "t1_" + c.comment_id == parent_id), None)

    def depth(post_id: str, parent_id: str, time: float) -> float:
        if parent_id.startswith("t3_"):
            return 0.0
        parent = parent_of(post_id, parent_id, time)
        return np.nan if parent is None else depth(post_id, parent.parent_id, parent.created_utc) + 1

    rows = []
    for t in targets.itertuples(index=False):
        before = earlier(t.post_id, t.created_utc)
        parent = parent_of(t.post_id, t.parent_id, t.created_utc)
        if t.parent_id.startswith("t3_"):
            parent_values = (0.0, max(t.created_utc - t.thread_start_utc, 0) / 60, 0.0)
        elif parent is None:
            parent_values = (np.nan, np.nan, np.nan)
        else:
            parent_values = (depth(t.post_id, t.parent_id, t.created_utc), (t.created_utc - parent.created_utc) / 60,
                             1.0 + len(earlier(t.post_id, parent.created_utc)))
        so_far = float(len(before))
        author = t.author if isinstance(t.author, str) else None
        parent_author = parent.author if parent is not None and isinstance(parent.author, str) else None
        grandparent = None if parent is None else parent_of(t.post_id, parent.parent_id, t.created_utc)
        conversation = (float(sum(c.author == author for c in before)) if author else 0.0,
                        float(author is not None and grandparent is not None and grandparent.author == author),
                        float(parent is not None and bool(parent.is_submitter)),
                        float(sum(c.author == parent_author for c in before)) if parent_author else 0.0)
        rows.append((*parent_values, float(sum(c.parent_id == t.parent_id for c in before)), so_far,
                     so_far / max((t.created_utc - t.thread_start_utc) / 3600, 1 / 60), *conversation))
    return pd.DataFrame(rows, columns=list(CONTEXT_COLUMNS), index=targets.index, dtype="float64")


def random_threads(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A few threads reusing one another's comment ids, with times drawn from few values (ties), parents
    that are the post, a comment listed earlier or later (the comment itself included), or not listed;
    and drafts (no comment_id) at any of those times, with parents of the same kinds; authors from a few
    (or unknown), some comments the submitter's."""
    frames, drafts = [], []

    def authors(k: int) -> pd.Series:  # three authors, shared across threads, or unknown
        return pd.Series([None if a == 3 else f"u_{a}" for a in rng.integers(0, 4, k)], dtype=object)
    for thread in range(rng.integers(1, 4)):
        post, start, size = f"p{thread}", 1000.0 * thread, int(rng.integers(0, 12))
        ids = [f"c{i}" for i in range(size)]

        def parents(k: int, post: str = post, ids: list[str] = ids) -> list[str]:
            return [f"t3_{post}" if kind == 0 else f"t1_{rng.choice(ids)}" if kind == 1 and ids else "t1_gone"
                    for kind in rng.integers(0, 3, k)]

        frames.append(pd.DataFrame({"post_id": post, "comment_id": pd.Series(ids, dtype=object),
                                    "parent_id": pd.Series(parents(size), dtype=object),
                                    "created_utc": start + 60.0 * rng.integers(0, 6, size), "thread_start_utc": start,
                                    "author": authors(size), "is_submitter": rng.integers(0, 2, size) == 1}))
        k = int(rng.integers(0, 4))
        drafts.append(pd.DataFrame({"post_id": post, "comment_id": None, "parent_id": parents(k),
                                    "created_utc": start + 60.0 * rng.integers(0, 7, k), "thread_start_utc": start,
                                    "author": authors(k)}))
    comments = pd.concat(frames, ignore_index=True).sample(frac=1, random_state=int(rng.integers(1000)))
    return comments, pd.concat(drafts, ignore_index=True)


@pytest.mark.parametrize("seed", range(40))
def test_the_context_is_the_rule_read_literally(seed):
    comments, drafts = random_threads(np.random.default_rng(seed))
    pd.testing.assert_frame_equal(thread_context(comments), reference_context(comments, comments))
    pd.testing.assert_frame_equal(thread_context(comments, drafts), reference_context(comments, drafts))
