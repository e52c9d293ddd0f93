"""Thread context: what a comment's writer saw, from earlier comments only, the same for training and requests."""
import numpy as np
import pandas as pd
import pytest

from reception.data.thread_context import CONTEXT_COLUMNS, thread_context

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
