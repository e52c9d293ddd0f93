"""bronze, silver, interim and processed transforms on small frames built here."""
import dask.dataframe as dd
import pandas as pd
import pytest

from reception.data.pseudonyms import pseudonymise
from reception.data.splits import random_split, thread_split, time_split
from reception.data.star_schema import build_dim_author, build_fact_comments
from reception.data.thread_order import forward_split
from reception.data.typed_tables import to_typed_frame
from reception.data.wrangling import (
    add_clean_text,
    add_features,
    is_immature,
    live_comments_in_context,
    winsor_bounds,
    winsor_counts,
    winsorise,
)

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def comments_frame(bodies, scores=None, post_ids=None) -> pd.DataFrame:
    n = len(bodies)
    return pd.DataFrame({
        "comment_id": [f"c{i:03d}" for i in range(n)],
        "post_id": post_ids or ["p1"] * n,
        "subreddit": ["r"] * n,
        "author": ["a"] * n,
        "body": bodies,
        "score": scores or list(range(n)),
        "created_utc": [1.76e9 + i for i in range(n)],
        "created_dt": pd.to_datetime([1.76e9 + i for i in range(n)], unit="s", utc=True),
        "post_created_utc": [1.76e9] * n,
        "post_known": [True] * n,
        "is_submitter": [False] * n,
        "parent_id": ["t3_p1"] + ["t1_c000"] * (n - 1),
    })


def test_bronze_types_edited_and_keeps_every_column():
    raw = pd.DataFrame({"id": ["b", "a"], "created_utc": [1.7e9, 1.6e9], "edited": [False, 1.7e9 + 5],
                        "author": [None, "x"], "score": [1, 2]})
    typed = to_typed_frame(raw, ["id"])
    assert typed["id"].tolist() == ["a", "b"]  # sorted, so files do not depend on input order
    assert typed["edited"].tolist() == [True, False]
    assert typed["edited_utc"].iloc[0] == 1.7e9 + 5 and pd.isna(typed["edited_utc"].iloc[1])
    assert pd.isna(typed["author"].iloc[1])
    assert str(typed["created_dt"].dt.tz) == "UTC"
    assert set(raw.columns) <= set(typed.columns)


def test_silver_keeps_comments_without_post():
    comments = pd.DataFrame({"comment_id": ["c1", "c2"], "post_id": ["known", "orphan"],
                             "author": ["a", None], "created_utc": [2.0, 3.0]})
    posts = pd.DataFrame({"id": ["known"], "subreddit": ["r1"], "created_utc": [1.0], "author": ["a"]})
    fact = build_fact_comments(comments, posts)
    assert len(fact) == 2
    assert fact.set_index("comment_id")["post_known"].to_dict() == {"c1": True, "c2": False}
    assert fact.set_index("comment_id").loc["c1", "subreddit"] == "r1"
    authors = build_dim_author(dd.from_pandas(comments, npartitions=2), dd.from_pandas(posts, npartitions=1),
                               npartitions=2).compute()
    assert authors.to_dict("records") == [{"author": "a", "n_comments": 1, "n_posts": 1,
                                           "first_seen_utc": 1.0, "last_seen_utc": 2.0}]


def test_interim_steps_follow_the_seed():
    bodies = ["[deleted]", "[removed]", "ok", "Nice one!", "Why though?", "😀😀😀😀", "https://only.a/url",
              "A perfectly normal comment"]
    step1 = live_comments_in_context(comments_frame(bodies, scores=[-50, 0, 1, 2, 3, 4, 5, 1000]))
    assert "[deleted]" not in step1["body"].tolist() and len(step1) == 6
    # context is taken before deleted comments go: the first (deleted) comment was the top-level reply
    assert step1["is_top_level"].sum() == 0 and (step1["thread_start_utc"] == 1.76e9).all()
    step2 = add_features(step1, min_text_len=2)
    assert "ok" not in step2["text"].tolist()  # text_len 2 <= 2
    assert step2.set_index("text").loc["Nice one!", "has_exclamation"]
    bounds = winsor_bounds([winsor_counts(step2.iloc[:3]), winsor_counts(step2.iloc[3:])], [0.01, 0.99], 0.99)
    assert (bounds.score_low, bounds.score_high) == tuple(step2["score"].quantile([0.01, 0.99]))
    assert bounds.text_len_high == step2["text_len"].quantile(0.99)
    step3 = winsorise(step2, bounds)
    assert step3["score_clipped"].max() < 1000 and step3["score_clipped"].min() >= 2
    assert (step3["text_len_clipped"] <= step3["text_len"]).all()
    step4 = add_clean_text(step3, min_clean_len=3)
    assert step4["clean_text"].tolist() == ["nice one!", "why though?", "a perfectly normal comment"]


def labelled(n: int, threads: int) -> pd.DataFrame:
    frame = comments_frame([f"text {i}" for i in range(n)], post_ids=[f"p{i % threads}" for i in range(n)])
    frame["well_received"] = [i % 2 for i in range(n)]
    return frame


def test_random_split_is_stratified_disjoint_and_seeded():
    frame = labelled(400, threads=10)
    splits = random_split(frame, FRACTIONS, seed=7)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [280, 60, 60]
    ids = [set(s["comment_id"]) for s in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert all(s["well_received"].mean() == pytest.approx(0.5, abs=0.02) for s in splits.values())
    again = random_split(frame, FRACTIONS, seed=7)
    assert all(splits[s]["comment_id"].tolist() == again[s]["comment_id"].tolist() for s in splits)


def test_thread_split_never_shares_a_thread():
    frame = labelled(600, threads=20)
    splits = thread_split(frame, FRACTIONS, seed=3)
    threads = [set(s["post_id"]) for s in splits.values()]
    assert not (threads[0] & threads[1] or threads[0] & threads[2] or threads[1] & threads[2])
    assert sum(len(s) for s in splits.values()) == len(frame)
    assert len(splits["train"]) == pytest.approx(420, abs=30)


def test_thread_split_needs_three_threads():
    with pytest.raises(SystemExit, match="needs >= 3 threads"):
        thread_split(labelled(10, threads=2), FRACTIONS, seed=0)


def test_time_split_puts_the_newest_threads_in_test():
    frame = labelled(600, threads=20)
    frame["thread_start_utc"] = frame["post_id"].str[1:].astype(int) * 3600.0  # p19 started last
    splits = time_split(frame, FRACTIONS, seed=0)
    starts = {name: split["thread_start_utc"] for name, split in splits.items()}
    assert starts["train"].max() < starts["val"].min() and starts["val"].max() < starts["test"].min()
    assert sum(len(s) for s in splits.values()) == len(frame)
    assert len(splits["test"]) == pytest.approx(90, abs=30)
    few = time_split(frame[frame["post_id"].isin(["p0", "p1", "p2"])], FRACTIONS, seed=0)
    assert [sorted(set(few[s]["post_id"])) for s in ("train", "val", "test")] == [["p0"], ["p1"], ["p2"]]


def test_forward_check_holds_out_the_newest_whole_threads():
    frame = labelled(600, threads=20)
    frame["thread_start_utc"] = frame["post_id"].str[1:].astype(int) * 3600.0  # p19 started last
    newest = forward_split(frame, 0.15)
    assert frame.loc[newest, "thread_start_utc"].min() > frame.loc[~newest, "thread_start_utc"].max()
    assert newest.sum() == pytest.approx(90, abs=30)
    two = frame[frame["post_id"].isin(["p0", "p1"])]
    assert sorted(set(two.loc[forward_split(two, 0.99), "post_id"])) == ["p1"]  # the oldest thread is always fit
    with pytest.raises(SystemExit, match="needs >= 2 threads"):
        forward_split(frame[frame["post_id"] == "p0"], 0.15)


def test_scores_read_too_soon_are_no_labels_and_rows_without_observation_are_mature():
    comments = comments_frame(["first comment", "second comment", "third comment"])
    assert not is_immature(comments, 24).any()  # no observed_utc column: the sample's case
    comments["observed_utc"] = comments["created_utc"] + [3600, 25 * 3600, None]
    assert is_immature(comments, 24).tolist() == [True, False, False]
    assert live_comments_in_context(comments, min_age_hours=24)["comment_id"].tolist() == ["c001", "c002"]


def test_authors_are_pseudonymised_with_the_key():
    authors = pd.Series(["alice", None, "alice", "bob"])
    one, other = pseudonymise(authors, b"key one"), pseudonymise(authors, b"key two")
    assert one[0] == one[2] != one[3] and pd.isna(one[1])
    assert one[0].startswith("u_") and "alice" not in one[0] and one[0] != other[0]
