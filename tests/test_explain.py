"""Contributions of each request input to the logit, and the "when to post" curve."""
import numpy as np
import pytest

from reception.data.features import METADATA_FEATURES, metadata_features
from reception.models.calibration import CalibratedModel, PlattCalibrator
from reception.models.families import build_hybrid
from reception.serving.explain import (
    additive_group_values,
    hybrid_groups,
    is_affine,
    pipeline_logit,
    ranked,
    shapley_group_values,
    training_mean,
    when_to_post,
)
from reception.serving.scored_record import ScoredRecord

DIM = 6


def fitted_hybrid(head: dict):
    """A hybrid fit on comments written up to a day into their thread, the earlier ones well received."""
    rng = np.random.default_rng(0)
    n = 300
    columns = {"created_utc": 36_000 + rng.uniform(0, 86_400, n), "thread_start_utc": np.full(n, 36_000.0),
               "is_submitter": rng.uniform(size=n) < 0.1, "is_top_level": rng.uniform(size=n) < 0.5,
               "text_len": rng.integers(3, 400, n), "word_count": rng.integers(1, 80, n),
               "has_exclamation": rng.uniform(size=n) < 0.2, "has_question": rng.uniform(size=n) < 0.2,
               "depth": np.where(rng.uniform(size=n) < 0.1, np.nan, rng.integers(0, 4, n)),
               "minutes_since_parent": rng.uniform(0, 600, n), "parent_position": rng.integers(0, 50, n),
               "earlier_replies_to_parent": rng.integers(0, 5, n), "comments_so_far": rng.integers(0, 200, n),
               "comments_per_hour_so_far": rng.uniform(0, 30, n), "author_earlier_comments": rng.integers(0, 4, n),
               "replies_back": rng.uniform(size=n) < 0.1, "replies_to_submitter": rng.uniform(size=n) < 0.1,
               "parent_author_earlier": rng.integers(0, 6, n)}
    X = np.hstack([rng.normal(size=(n, DIM)), metadata_features(columns)])
    timing = X[:, DIM + METADATA_FEATURES.index("log_minutes_since_thread_start")]
    y = (timing - np.median(timing) + 0.5 * X[:, 0] + rng.normal(0, 0.5, n) < 0).astype(int)
    return build_hybrid(DIM, 3, head, seed=0).fit(X, y), X


def test_groups_cover_every_column_once_with_the_text_as_one():
    groups = hybrid_groups(DIM)
    columns = np.concatenate(list(groups.values()))
    assert sorted(columns) == list(range(DIM + len(METADATA_FEATURES)))
    assert list(groups)[0] == "text" and "length_punctuation" not in groups
    assert DIM + METADATA_FEATURES.index("has_question") in groups["text"]


def test_linear_contributions_are_exact_and_sum_to_the_logit():
    model, X = fitted_hybrid({"kind": "logreg", "C": 1.0})
    timing = DIM + METADATA_FEATURES.index("log_minutes_since_thread_start")
    reference, groups, x = training_mean(model), hybrid_groups(DIM), X[np.argmax(np.abs(X[:, timing]))]
    [values] = shapley_group_values(pipeline_logit(model), x, reference, groups)
    predict_logit = pipeline_logit(model)
    assert sum(values.values()) == pytest.approx(predict_logit(x[None])[0] - predict_logit(reference[None])[0])
    # Linear: each group's value is w . (x - mean) over its columns, through the scalers and PCA.
    for name, columns in groups.items():
        alone = reference.copy()
        alone[columns] = x[columns]
        assert values[name] == pytest.approx(predict_logit(alone[None])[0] - predict_logit(reference[None])[0])
    assert "submitter" not in values  # a candidate group the ablation dropped: never an input
    assert abs(values["timing"]) > abs(values["hour_of_day"])
    order = [abs(item["logit"]) for item in ranked(values)]
    assert order == sorted(order, reverse=True)


def test_calibrated_and_tree_models_are_explained_too():
    model, X = fitted_hybrid({"kind": "hist_gradient_boosting", "learning_rate": 0.1, "max_depth": 2,
                              "max_iter": 30})
    calibrated = CalibratedModel(model, PlattCalibrator().fit(pipeline_logit(model)(X), (X[:, DIM] > 0).astype(int)))
    reference = training_mean(calibrated)
    [values] = shapley_group_values(pipeline_logit(calibrated), X[3], reference, hybrid_groups(DIM))
    predict_logit = pipeline_logit(calibrated)
    assert sum(values.values()) == pytest.approx(predict_logit(X[3:4])[0] - predict_logit(reference[None])[0])


def test_the_linear_head_takes_its_exact_decomposition_and_trees_every_coalition():
    linear, X = fitted_hybrid({"kind": "logreg", "C": 1.0})
    calibrated = CalibratedModel(linear, PlattCalibrator().fit(pipeline_logit(linear)(X), (X[:, DIM] > 0).astype(int)))
    trees, _ = fitted_hybrid({"kind": "hist_gradient_boosting", "learning_rate": 0.1, "max_depth": 3,
                              "max_iter": 30})
    assert is_affine(linear) and is_affine(calibrated) and not is_affine(trees)
    groups = hybrid_groups(DIM)
    for model in (linear, calibrated, trees):
        predict_logit, reference = pipeline_logit(model), training_mean(model)
        alone = additive_group_values(predict_logit, X[:20], reference, groups)
        exact = shapley_group_values(predict_logit, X[:20], reference, groups)
        same = all(a == pytest.approx(b, abs=1e-9) for a, b in zip(alone, exact, strict=True))
        assert same == is_affine(model)  # trees interact across groups: their effects alone are not Shapley's


def test_rows_explained_together_match_each_row_alone():
    model, X = fitted_hybrid({"kind": "hist_gradient_boosting", "learning_rate": 0.1, "max_depth": 2,
                              "max_iter": 30})
    predict_logit, reference, groups = pipeline_logit(model), training_mean(model), hybrid_groups(DIM)
    together = shapley_group_values(predict_logit, X[:7], reference, groups)
    alone = [shapley_group_values(predict_logit, x, reference, groups)[0] for x in X[:7]]
    assert len(together) == 7 and len({round(v["timing"], 6) for v in together}) > 1
    for row, single in zip(together, alone, strict=True):
        assert row == pytest.approx(single)


def test_when_to_post_moves_only_the_comment_time():
    seen = []

    def score_records(records, now):
        seen.extend(records)
        minutes = np.array([(r["created_utc"] - r["post_created_utc"]) / 60 for r in records])
        return [ScoredRecord(float(s), {}, [], None) for s in 1 / (1 + np.log1p(minutes))]

    curve = when_to_post(score_records, {"text": "draft", "post_created_utc": 0.0, "is_top_level": True}, now=600.0)
    assert [c["delay_minutes"] for c in curve] == [0, 15, 60, 180, 720]
    assert [c["created_utc"] for c in curve] == [600.0, 1500.0, 4200.0, 11400.0, 43800.0]
    assert all(a["score"] > b["score"] for a, b in zip(curve, curve[1:], strict=False))
    assert all(r["post_created_utc"] == 0.0 and r["is_top_level"] for r in seen)
    with pytest.raises(ValueError, match="thread's start"):
        when_to_post(score_records, {"text": "draft"}, now=0.0)


class FakeEncoder:
    """Stands in for the ONNX encoder: a fixed vector per text length (the explanation is what is tested)."""

    def encode(self, texts, batch_size):
        return np.array([np.sin(np.arange(DIM) + len(t)) for t in texts])


def reception_model(head: dict):
    from reception.serving.registered_model import ReceptionModel

    model, _ = fitted_hybrid(head)
    served = ReceptionModel()
    served.family, served.batch_size, served.encoder, served.classifier = "hybrid", 8, FakeEncoder(), model
    served.finetuned_model = served.text_pipeline = False
    served.defaults = {"is_top_level": True, "minutes_since_thread_start": 90.0, "earlier_replies_to_parent": 1.0,
                       "comments_so_far": 30.0}
    return served


def test_served_model_returns_contributions_in_words_and_when_to_post():
    served = reception_model({"kind": "logreg", "C": 1.0})
    records = [{"text": "Great point!", "created_utc": 36_000.0 + 222 * 60, "post_created_utc": 36_000.0,
                "is_top_level": False}, {"text": "no"}]
    scored = served.score_records(records, now=50_000.0, with_contributions=True)
    plain = served.score_records(records, now=50_000.0)  # without contributions: the same scores and inputs
    assert [(s.score, s.inputs_used) for s in plain] == [(s.score, s.inputs_used) for s in scored]
    assert [s.contributions for s in plain] == [[], []] and all(s.vector.shape == (DIM,) for s in scored)
    scores = np.array([s.score for s in scored])
    first = scored[0].contributions
    assert {c["input"] for c in first} == {"text", "reply_structure", "hour_of_day", "timing", "thread_position",
                                           "thread_activity", "conversation"}
    says = {c["input"]: c["says"] for c in first}
    assert says["timing"].startswith("written 3.7 h after the thread started: ")
    assert says["reply_structure"].startswith("a reply to a comment") and says["hour_of_day"].startswith(
        "written at 13:00 UTC")
    assert says["thread_position"].startswith("a reply to a comment the thread given does not show: ")
    assert says["thread_activity"].startswith("30 comments in the thread before it (8 an hour): ")
    assert says["conversation"].startswith("its author's first comment in the thread (or an author not given): ")
    logit = np.log(scores / (1 - scores))
    reference = logit[0] - sum(c["logit"] for c in first)
    assert reference == pytest.approx(logit[1] - sum(c["logit"] for c in scored[1].contributions), abs=1e-3)

    curve = served.when_to_post({"text": "Great point!", "post_created_utc": 36_000.0}, now=40_000.0)
    assert [c["delay_minutes"] for c in curve] == [0, 15, 60, 180, 720]
    [now] = served.score_records([{"text": "Great point!", "post_created_utc": 36_000.0, "created_utc": 40_000.0}])
    assert curve[0]["score"] == pytest.approx(now.score, abs=1e-4)


def test_the_thread_position_is_said_in_words():
    from reception.serving.explain import thread_position_in_words

    said = thread_position_in_words({"depth": 2.0, "parent_position": 2.0, "minutes_since_parent": 4.2,
                                     "earlier_replies_to_parent": 1.0})
    assert said == "a reply to the thread's 2nd comment, 4 min after it, after 1 other reply to it"
    assert thread_position_in_words({"depth": 0.0, "parent_position": 0.0, "minutes_since_parent": 150.0,
                                     "earlier_replies_to_parent": 0.0}) == "a reply to the post, 2.5 h after it"
    assert thread_position_in_words({"depth": np.nan, "parent_position": np.nan, "minutes_since_parent": np.nan,
                                     "earlier_replies_to_parent": 3.0}).startswith("a reply to a comment")


def test_the_conversation_is_said_in_words():
    from reception.serving.explain import conversation_in_words

    said = conversation_in_words({"author_earlier_comments": 2.0, "replies_back": 1.0, "replies_to_submitter": 1.0,
                                  "parent_author_earlier": 3.0})
    assert said == ("its author's 3rd comment in the thread, answering a reply to them, a reply to the post's "
                    "author, its parent's author has written 3 comments here")
    assert conversation_in_words(dict.fromkeys(("author_earlier_comments", "replies_back", "replies_to_submitter",
                                                "parent_author_earlier"), 0.0)).startswith("its author's first")
