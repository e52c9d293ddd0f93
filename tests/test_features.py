"""Metadata features: the training path (interim/processed columns) and the request path agree."""
import numpy as np
import pandas as pd
import pytest

from reception.data.features import (
    ALL_FEATURES,
    API_INPUTS,
    CANDIDATE_FEATURES,
    CANDIDATE_GROUPS,
    FEATURE_GROUPS,
    METADATA_FEATURES,
    READ_INPUTS,
    ablation_variants,
    feature_columns,
    is_top_level,
    metadata_features,
    request_columns,
    resolve_inputs,
    supported,
    thread_start_utc,
    training_defaults,
)
from reception.data.text import normalize, text_features
from reception.data.thread_context import CONTEXT_COLUMNS, CONVERSATION_COLUMNS

DEFAULTS = {"is_top_level": True, "minutes_since_thread_start": 90.0, "earlier_replies_to_parent": 1.0,
            "comments_so_far": 40.0}


def test_thread_start_is_the_post_time_when_known_else_the_first_comment():
    comments = pd.DataFrame({"post_id": ["a", "a", "b", "b"], "created_utc": [500.0, 200.0, 900.0, 700.0],
                             "post_created_utc": [100.0, 100.0, None, None], "post_known": [True, True, False, False]})
    assert thread_start_utc(comments).tolist() == [100.0, 100.0, 700.0, 700.0]
    assert is_top_level(pd.Series(["t3_a", "t1_x"])).tolist() == [True, False]


def test_request_path_computes_the_training_features():
    bodies = ["Great point!", "Why would you say that?\n\nhttps://x.y"]
    stored = pd.concat([text_features(pd.Series([normalize(b) for b in bodies])),
                        pd.DataFrame({"created_utc": [7200.0, 90000.0], "thread_start_utc": [3600.0, 86400.0],
                                      "is_submitter": [True, False], "is_top_level": [False, True],
                                      # no thread given: an unknown parent for the reply, the post for the
                                      # top-level comment, the training medians for the counts
                                      "depth": [np.nan, 0.0], "minutes_since_parent": [np.nan, 60.0],
                                      "parent_position": [np.nan, 0.0], "earlier_replies_to_parent": [1.0, 1.0],
                                      "comments_so_far": [40.0, 40.0], "comments_per_hour_so_far": [40.0, 40.0],
                                      # and nobody known to have written before it
                                      **dict.fromkeys(CONVERSATION_COLUMNS, [0.0, 0.0])})],
                       axis=1)
    records = [{"text": b, "created_utc": c, "post_created_utc": s, "is_submitter": sub, "is_top_level": top,
                "parent_id": "t3_p" if top else "t1_x"}
               for b, c, s, sub, top in zip(bodies, stored["created_utc"], stored["thread_start_utc"],
                                            stored["is_submitter"], stored["is_top_level"], strict=True)]
    metadata, used = resolve_inputs(records, DEFAULTS, now=0.0)
    served = metadata_features(request_columns([normalize(b) for b in bodies], metadata))
    np.testing.assert_allclose(served, metadata_features(stored))
    assert served.shape == (2, len(METADATA_FEATURES))
    assert all(used[0][name]["source"] == "request" for name in READ_INPUTS)
    assert used[0]["depth"] == {"value": None, "source": "unknown: no thread given"}
    assert used[1]["depth"] == {"value": 0.0, "source": "reply to the post"}
    assert served[0, METADATA_FEATURES.index("parent_unknown")] == 1.0
    assert served[1, METADATA_FEATURES.index("parent_unknown")] == 0.0
    hour = served[0, METADATA_FEATURES.index("hour_sin")], served[0, METADATA_FEATURES.index("hour_cos")]
    assert hour == pytest.approx((np.sin(2 * np.pi * 2 / 24), np.cos(2 * np.pi * 2 / 24)))  # 02:00 UTC
    minutes = served[0, METADATA_FEATURES.index("log_minutes_since_thread_start")]
    assert minutes == pytest.approx(np.log1p(60))


def test_absent_inputs_take_documented_defaults_and_say_so():
    metadata, [used] = resolve_inputs([{"text": "hi", "is_submitter": None, "created_utc": float("nan")}],
                                      DEFAULTS, now=1_000_000.0)
    row = {name: values[0] for name, values in metadata.items()}
    assert row["created_utc"] == 1_000_000.0 and row["thread_start_utc"] == 1_000_000.0 - 90 * 60
    assert bool(row["is_top_level"]) is True and "is_submitter" not in row  # accepted, not read
    assert used["created_utc"]["source"] == "default: time of the request"
    assert "training median thread age" in used["post_created_utc"]["source"]
    assert used["is_top_level"] == {"value": True, "source": "default: training majority"}
    assert set(READ_INPUTS) == {"created_utc", "post_created_utc", "is_top_level", "parent_id"}
    assert used["parent_id"]["value"] is None and used["parent_id"]["source"].startswith("default: not given")
    assert set(used) == {*READ_INPUTS, *CONTEXT_COLUMNS}
    assert used["comments_so_far"] == {"value": 40.0, "source": "default: training median (no thread given)"}
    _, [given] = resolve_inputs([{"text": "hi", "post_created_utc": 10.0}], DEFAULTS, now=70.0)
    assert given["post_created_utc"] == {"value": 10.0, "source": "request"}


def test_training_defaults_are_majorities_and_the_median_age():
    train = pd.DataFrame({"created_utc": [600.0, 1200.0, 4000.0], "thread_start_utc": [0.0, 0.0, 100.0],
                          "is_submitter": [False, False, True], "is_top_level": [True, True, False],
                          "earlier_replies_to_parent": [0.0, 1.0, 5.0], "comments_so_far": [0.0, 1.0, 2.0]})
    assert training_defaults(train) == {"is_top_level": True, "minutes_since_thread_start": 20.0,
                                        "earlier_replies_to_parent": 1.0, "comments_so_far": 1.0}


def test_the_kept_groups_and_the_candidates_are_disjoint_and_readable():
    """The candidates (tried by the ablation, not served) are computed on the same path as the kept ones."""
    assert not set(METADATA_FEATURES) & set(CANDIDATE_FEATURES)
    assert METADATA_FEATURES == tuple(f for members in FEATURE_GROUPS.values() for f in members)
    columns = {"text_len": [10], "word_count": [2], "has_exclamation": [0], "has_question": [1],
               "created_utc": [7200.0], "thread_start_utc": [3600.0], "is_top_level": [1], "is_submitter": [1],
               "depth": [0.0], "minutes_since_parent": [60.0], "parent_position": [0.0],
               "earlier_replies_to_parent": [2.0], "comments_so_far": [5.0], "comments_per_hour_so_far": [5.0],
               "author_earlier_comments": [1.0], "replies_back": [1.0], "replies_to_submitter": [0.0],
               "parent_author_earlier": [2.0]}
    both = metadata_features(columns, (*METADATA_FEATURES, *CANDIDATE_FEATURES))
    np.testing.assert_allclose(both[:, :len(METADATA_FEATURES)], metadata_features(columns))
    assert both[0, -1] == 1.0
    assert "is_submitter" not in READ_INPUTS and "is_submitter" in API_INPUTS


def test_ablation_variants_remove_each_kept_group_and_add_each_candidate_once():
    variants = ablation_variants()
    assert [(v, g) for v, g, _ in variants] == [*(("without", g) for g in FEATURE_GROUPS),
                                                 *(("with_candidate", g) for g in CANDIDATE_GROUPS)]
    for _, group, features in variants:
        members = {**FEATURE_GROUPS, **CANDIDATE_GROUPS}[group]
        expected = set(METADATA_FEATURES) ^ set(members)  # removed if kept, added if a candidate
        assert set(features) == expected and len(features) == len(expected)
    assert supported("without", -0.01) and not supported("without", 0.0)
    assert supported("with_candidate", 0.01) and not supported("with_candidate", 0.0)


def test_feature_columns_pick_the_embedding_and_the_named_features():
    matrix = np.arange(3 + len(ALL_FEATURES))
    picked = matrix[feature_columns(("is_submitter", "is_top_level"), 3)]
    assert list(picked) == [0, 1, 2, 3 + ALL_FEATURES.index("is_submitter"), 3 + ALL_FEATURES.index("is_top_level")]
    assert ALL_FEATURES[:len(METADATA_FEATURES)] == METADATA_FEATURES
