"""A request's thread: the features it gives are training's thread_context on the same comments, and what
cannot be true is refused with a message naming both sides."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reception.data.features import METADATA_FEATURES, metadata_features, request_columns, resolve_inputs
from reception.data.thread_context import CONTEXT_COLUMNS, thread_context
from reception.serving.thread_request import Contradiction, given_thread, with_thread

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {"is_top_level": True, "minutes_since_thread_start": 90.0, "earlier_replies_to_parent": 1.0,
            "comments_so_far": 40.0}
START = 1_000_000.0
# c1 (1 min), c2 reply to c1 (2 min), c3 (3 min), c4 reply to c2 (5 min), c5 reply to c1 (10 min)
ROWS = [("c1", "t3_p", 60), ("c2", "t1_c1", 120), ("c3", "t3_p", 180), ("c4", "t1_c2", 300), ("c5", "t1_c1", 600)]


def small_thread(rows=ROWS, comments_so_far=None):
    return given_thread(START, [c for c, _, _ in rows], [p for _, p, _ in rows], [START + s for _, _, s in rows],
                        comments_so_far)


def sample_thread(post_id: str = "1otlfzz") -> tuple[pd.DataFrame, float]:
    """A real thread of the sample (500 comments), and its start: the sample lacks its post, so its first
    comment, as training starts a thread whose post is unknown (features.thread_start_utc)."""
    comments = pd.read_json(REPO / f"data/sample/reddit/comments/part-20250101_0000-{post_id}.ndjson", lines=True,
                            dtype={"comment_id": str, "parent_id": str, "post_id": str})
    return comments, float(comments["created_utc"].min())


def resolved(records, thread):
    metadata, used = resolve_inputs(with_thread(records, thread, [""] * len(records)), DEFAULTS, now=0.0)
    return pd.DataFrame({name: metadata[name] for name in CONTEXT_COLUMNS}), used


def test_a_request_thread_gives_training_thread_context_on_the_same_comments():
    """The comments of a real 500-comment thread, scored as texts against the whole thread as a page lists
    it (later comments and each text itself included), read what training computed for them."""
    comments, post_created = sample_thread()
    assert len(comments) == 500
    training = thread_context(comments.assign(thread_start_utc=post_created))
    thread = given_thread(post_created, comments["comment_id"].tolist(), comments["parent_id"].tolist(),
                          comments["created_utc"].tolist(), author=comments["author"].tolist(),
                          is_submitter=comments["is_submitter"].tolist())
    picked = comments.sample(40, random_state=3).index
    records = [{"text": "x", "created_utc": float(comments.at[i, "created_utc"]),
                "parent_id": comments.at[i, "parent_id"], "author": comments.at[i, "author"]} for i in picked]
    served, used = resolved(records, thread)
    pd.testing.assert_frame_equal(served.set_index(picked), training.loc[picked].astype("float64"), check_names=False)
    assert served["depth"].max() > 1 and served["comments_so_far"].nunique() > 10  # deep and spread in time
    # the authors (pseudonymised again by the service: equality kept) give the same conversation
    assert served["author_earlier_comments"].max() > 0 and served["parent_author_earlier"].max() > 0
    assert all(u[name]["source"].startswith("thread") for u in used for name in CONTEXT_COLUMNS)
    assert {u["post_created_utc"]["source"] for u in used} == {"thread"}
    assert {u["is_top_level"]["source"] for u in used} == {"parent_id"}


def test_only_comments_written_before_each_text_count():
    thread = small_thread()
    records = [{"text": "a", "created_utc": START + 150, "parent_id": "t1_c1"},   # after c1, c2
               {"text": "b", "created_utc": START + 900, "parent_id": "t1_c1"},   # after all five
               {"text": "c", "created_utc": START + 60, "parent_id": "t3_p"}]     # at c1's second: not after it
    served, used = resolved(records, thread)
    assert served["comments_so_far"].tolist() == [2, 5, 0]
    assert served["earlier_replies_to_parent"].tolist() == [1, 2, 0]  # c2; c2 and c5; none
    assert served.loc[0, "minutes_since_parent"] == pytest.approx(1.5)
    assert served.loc[1, "parent_position"] == 1 and served.loc[1, "depth"] == 1
    assert served.loc[2, "depth"] == 0 and served.loc[2, "minutes_since_parent"] == 1
    assert used[0]["comments_per_hour_so_far"]["value"] == pytest.approx(round(2 / (150 / 3600), 4))


def test_a_parent_the_caller_cannot_see_is_unknown():
    records = [{"text": "a", "created_utc": START + 900, "parent_id": "t1_zz9"},   # not listed
               {"text": "b", "created_utc": START + 900, "is_top_level": False}]   # no parent_id
    served, used = resolved(records, small_thread())
    assert served[["depth", "minutes_since_parent", "parent_position"]].isna().all().all()
    assert used[0]["depth"] == {"value": None,
                                "source": "thread: the parent is not among the listed comments written before it"}
    assert used[1]["depth"]["source"] == "thread: no parent_id given"
    assert served["comments_so_far"].tolist() == [5, 5]  # the counts still come from the thread
    assert used[1]["earlier_replies_to_parent"] == {"value": 1.0,
                                                    "source": "default: training median (no parent_id given)"}
    metadata, _ = resolve_inputs(with_thread(records, small_thread(), ["", ""]), DEFAULTS, now=0.0)
    features = metadata_features(request_columns(["a", "b"], metadata))
    assert features[:, METADATA_FEATURES.index("parent_unknown")].tolist() == [1.0, 1.0]


def test_authors_are_compared_under_a_pseudonym_and_deleted_is_nobody():
    """c1 ann (the submitter), c2 bob replying to c1, c3 "[deleted]", c4 ann replying to c2, c5 "[deleted]"."""
    thread = given_thread(START, [c for c, _, _ in ROWS], [p for _, p, _ in ROWS], [START + s for _, _, s in ROWS],
                          author=["ann", "bob", "[deleted]", "ann", "[deleted]"],
                          is_submitter=[True, False, None, True, None])
    records = [{"text": "a", "created_utc": START + 900, "parent_id": "t1_c4", "author": "bob"},  # bob answers ann
               {"text": "b", "created_utc": START + 900, "parent_id": "t1_c5", "author": "[deleted]"},
               {"text": "c", "created_utc": START + 900, "parent_id": "t1_c1"}]  # no author given
    checked = with_thread(records, thread, ["", "", ""])
    # no name goes further than the check: the thread and the records hold pseudonyms, "[deleted]" none
    assert not {"ann", "bob", "[deleted]"} & {*thread.author, *(r.get("author") for r in checked)}
    assert thread.author[0] == thread.author[3] and thread.author[2] is None and checked[1]["author"] is None
    served, used = resolved(records, thread)
    assert served.loc[0, ["author_earlier_comments", "replies_back", "replies_to_submitter",
                          "parent_author_earlier"]].tolist() == [1, 1, 1, 2]
    # c5's author is nobody: neither its own nor its parent's author counts
    assert served.loc[1, ["author_earlier_comments", "replies_back", "parent_author_earlier"]].tolist() == [0, 0, 0]
    assert served.loc[2, "parent_author_earlier"] == 2 and served.loc[2, "replies_to_submitter"] == 1
    assert used[2]["author_earlier_comments"]["source"].startswith("thread: no author given")
    assert used[0]["author_earlier_comments"] == {"value": 1.0, "source": "thread"}


def test_the_pages_comment_count_is_a_floor_after_the_listed_comments():
    thread = small_thread(comments_so_far=40)
    records = [{"text": "a", "created_utc": START + 3600, "parent_id": "t3_p"},
               {"text": "b", "created_utc": START + 200, "parent_id": "t3_p"}]   # before c4, c5: listed only
    served, used = resolved(records, thread)
    assert served["comments_so_far"].tolist() == [40, 3]
    assert served.loc[0, "comments_per_hour_so_far"] == pytest.approx(40.0)  # 40 comments in the first hour
    assert used[0]["comments_so_far"]["source"] == "thread: its comments_so_far (the page's count)"
    assert used[1]["comments_so_far"]["source"] == "thread"
    served, _ = resolved(records[:1], small_thread(comments_so_far=2))  # fewer than listed: the list counts
    assert served["comments_so_far"].tolist() == [5]
    served, _ = resolved(records, given_thread(START, [], [], [], 12))  # a page that lists no comment
    assert served["comments_so_far"].tolist() == [12, 12] and served["depth"].tolist() == [0, 0]


def test_one_call_serves_the_records_of_several_requests_as_each_alone():
    other = small_thread(ROWS[:2], comments_so_far=9)
    first = with_thread([{"text": "a", "created_utc": START + 900, "parent_id": "t1_c1"}], small_thread(), [""])
    second = with_thread([{"text": "b", "created_utc": START + 900, "parent_id": "t1_c1"}], other, [""])
    together, _ = resolve_inputs([first[0], second[0]], DEFAULTS, now=0.0)
    alone = [resolve_inputs(r, DEFAULTS, now=0.0)[0] for r in (first, second)]
    for name in CONTEXT_COLUMNS:
        np.testing.assert_array_equal(together[name], np.concatenate([a[name] for a in alone]))
    assert together["comments_so_far"].tolist() == [5, 9]


def test_parent_id_implies_is_top_level_without_a_thread():
    _, [reply, top] = resolve_inputs([{"text": "a", "parent_id": "t1_x"}, {"text": "b", "parent_id": "t3_p"}],
                                     DEFAULTS, now=START)
    assert reply["is_top_level"] == {"value": False, "source": "parent_id"} and reply["depth"]["value"] is None
    assert top["is_top_level"] == {"value": True, "source": "parent_id"} and top["depth"]["value"] == 0.0
    assert reply["parent_id"] == {"value": "t1_x", "source": "request"}


@pytest.mark.parametrize(("rows", "names"), [
    ([*ROWS, ("c2", "t3_p", 700)], ["thread.comments[1]", "thread.comments[5]", "'c2'"]),
    ([("c1", "t3_p", 60), ("c2", "t1_c1", 30)], ["thread.comments[1]", "thread.comments[0]", "written after it"]),
    ([("c1", "t3_p", -5)], ["thread.comments[0].created_utc", "thread.post_created_utc"]),
    ([("c1", "t3_p", 60), ("c2", "t3_q", 90)], ["thread.comments[0]", "'t3_p'", "thread.comments[1]", "'t3_q'"]),
    ([("c1", "t1_c1", 60)], ["thread.comments[0]", "replies to itself"]),
])
def test_comments_that_contradict_each_other_are_refused_naming_both(rows, names):
    with pytest.raises(Contradiction) as refused:
        small_thread(rows)
    assert all(name in str(refused.value) for name in names), str(refused.value)


@pytest.mark.parametrize(("metadata", "names"), [
    ({"parent_id": "t3_p", "is_top_level": False}, ["metadata[1].parent_id 't3_p'", "metadata[1].is_top_level false"]),
    ({"parent_id": "t1_c1", "is_top_level": True}, ["metadata[1].parent_id 't1_c1'", "is_top_level true"]),
    ({"post_created_utc": START - 60}, ["metadata[1].post_created_utc (999940)", "thread.post_created_utc (1000000)"]),
    ({"parent_id": "t3_q"}, ["metadata[1].parent_id 't3_q'", "'t3_p'"]),
    ({"created_utc": START - 1}, ["metadata[1].created_utc (999999)", "thread.post_created_utc (1000000)"]),
    ({"created_utc": START + 100, "parent_id": "t1_c2"}, ["metadata[1].created_utc (1000100)",
                                                           "thread.comments[1] ('c2', created_utc 1000120)"]),
])
def test_a_text_that_contradicts_the_thread_is_refused_naming_both(metadata, names):
    records = [{"text": "fine", "created_utc": START + 900}, {"text": "x", **metadata}]
    with pytest.raises(Contradiction) as refused:
        with_thread(records, small_thread(), ["metadata[0].", "metadata[1]."])
    assert all(name in str(refused.value) for name in names), str(refused.value)


def test_a_parent_id_that_contradicts_is_top_level_is_refused_without_a_thread_too():
    with pytest.raises(Contradiction, match="parent_id 't1_x'.*contradicts is_top_level true"):
        with_thread([{"text": "x", "parent_id": "t1_x", "is_top_level": True}], None, [""])
