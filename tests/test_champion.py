"""The champion decision on the same data: the winner against the alias holder on threads neither was trained on."""
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from test_models_unit import rows

from reception import paths
from reception.data.pseudonyms import pseudonym
from reception.models import artifact_hashes, champion
from reception.outputs import write_json
from reception.serving.scored_record import ScoredRecord
from reception.serving.thread_request import REQUEST_AUTHOR_KEY, THREAD_LISTING

REPO_PARAMS = paths.PARAMS_FILE.resolve()


def train_val(threads: int = 6, per_thread: int = 4) -> pd.DataFrame:
    """Processed train+val rows: `threads` threads t0.. of `per_thread` comments, both classes in each; every
    other comment replies to the one before it."""
    n = threads * per_thread
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)],
                         "post_id": [f"t{i // per_thread}" for i in range(n)],
                         "parent_id": [f"t3_t{i // per_thread}" if i % 2 == 0 else f"t1_c{i - 1}" for i in range(n)],
                         "well_received": [i % 2 for i in range(n)],
                         "created_utc": np.arange(n) * 60.0 + 1_000_000, "thread_start_utc": 1_000_000.0,
                         "is_submitter": [i % 3 == 0 for i in range(n)], "author": [f"u_{i % 3}" for i in range(n)],
                         "is_top_level": [i % 2 == 0 for i in range(n)]})


def comparison(challenger_auc: float, holder_auc: float, threads: int = 12) -> dict:
    return {"threads": [f"t{i}" for i in range(threads)], "rows": 40, "challenger_roc_auc": challenger_auc,
            "holder_roc_auc": holder_auc, "difference_interval": {"low": -0.02, "high": 0.05, "level": 0.95,
                                                                  "resamples": 1000}}


def test_training_threads_and_the_rows_that_arrived_since():
    frame = train_val()
    assert champion.training_threads(frame) == [f"t{i}" for i in range(6)]
    unseen = champion.unseen_rows(frame, {"t0", "t1", "t2", "t3"})
    assert set(unseen["post_id"]) == {"t4", "t5"} and len(unseen) == 8
    assert champion.unseen_rows(frame, set(champion.training_threads(frame))).empty


def silver_comments(frame: pd.DataFrame) -> pd.DataFrame:
    """The silver comments of `frame`'s threads: its rows, and one deleted comment per thread (no label, but
    on the page: part of the thread its writer saw)."""
    deleted = frame.groupby("post_id", as_index=False).agg(created_utc=("created_utc", "max"))
    deleted = deleted.assign(comment_id="gone_" + deleted["post_id"], parent_id="t3_" + deleted["post_id"],
                             created_utc=deleted["created_utc"] + 30)
    return pd.concat([frame, deleted], ignore_index=True)[list(THREAD_LISTING)]


def test_requests_carry_raw_bodies_metadata_and_threads_and_scores_keep_the_rows_order():
    frame = train_val()
    rows = champion.unseen_rows(frame, {"t0", "t1", "t2", "t3"}).iloc[::-1]
    bodies = pd.DataFrame({"comment_id": [f"c{i}" for i in range(24)], "body": [f"> raw {i}" for i in range(24)]})
    records = champion.requests(rows, bodies, silver_comments(frame))
    thread = records[0].pop("thread")
    # the text's author is its comment's, pseudonymised as the service does (equality kept, no name further)
    assert records[0].pop("author") == pseudonym("u_2", REQUEST_AUTHOR_KEY) == thread.author[3]
    assert records[0] == {"comment_id": "c23", "text": "> raw 23", "created_utc": 1_000_000 + 23 * 60.0,
                          "post_created_utc": 1_000_000.0, "is_submitter": False, "is_top_level": False,
                          "parent_id": "t1_c22"}
    # The thread as its page lists it (the deleted comment too), one object for the comments of one thread
    assert sorted(thread.comment_id) == ["c20", "c21", "c22", "c23", "gone_t5"]
    assert thread.post_created_utc == 1_000_000.0 and records[1]["thread"] is thread
    assert records[4]["thread"] is not thread and "gone_t4" in records[4]["thread"].comment_id
    predictions = pd.DataFrame({"comment_id": [f"c{i}" for i in range(24)] * 2,
                                "split": ["val"] * 24 + ["thread_cv"] * 24,
                                "score": [9.0] * 24 + [i / 100 for i in range(24)]})
    np.testing.assert_allclose(champion.challenger_scores(rows, predictions), [i / 100 for i in range(23, 15, -1)])
    with pytest.raises(SystemExit, match="no raw body"):
        champion.requests(rows, bodies.head(20), silver_comments(frame))


def test_paired_comparison_scores_both_on_the_same_rows():
    y = np.array([0, 1] * 20)
    threads = np.repeat([f"t{i}" for i in range(10)], 4)
    perfect, inverted = y.astype(float), 1.0 - y
    result = champion.paired_comparison(y, perfect, inverted, threads, seed=0, resamples=200)
    assert (result["challenger_roc_auc"], result["holder_roc_auc"], result["rows"]) == (1.0, 0.0, 40)
    assert result["threads"] == sorted(set(threads))
    assert result["difference_interval"]["low"] == result["difference_interval"]["high"] == 1.0
    assert champion.paired_comparison(np.ones(8), perfect[:8], inverted[:8], threads[:8], seed=0) is None


def test_alias_needs_the_paired_interval_to_every_baseline_above_zero():
    table = rows(0.76, 0.58)
    ok, reason = champion.alias_decision(table, table[0])
    assert ok and "the paired interval to each lies above 0, lowest to tfidf_logreg: +0.1800" in reason
    # ahead of every baseline on the fold mean, but the interval to tfidf_logreg reaches below 0
    table[0]["paired_differences"]["tfidf_logreg"].update(difference=0.03, low=-0.004, high=0.061)
    ok, reason = champion.alias_decision(table, table[0])
    assert not ok and "minus tfidf_logreg's: +0.0300, 95% paired interval over threads -0.0040 to +0.0610" in reason
    table[0]["paired_differences"]["tfidf_logreg"]["low"] = 0.0  # touching 0 is not above it
    assert champion.alias_decision(table, table[0])[0] is False
    del table[0]["paired_differences"]["tfidf_logreg"]
    ok, reason = champion.alias_decision(table, table[0])
    assert not ok and "no paired difference to tfidf_logreg" in reason
    # an unavailable baseline (bert_nlptown) needs no paired difference
    assert "bert_nlptown" not in champion.alias_decision(rows(0.76, 0.58), rows(0.76, 0.58)[0])[1]


def test_paired_comparison_draws_the_same_threads_for_both_models():
    rng = np.random.default_rng(0)
    threads = np.repeat([f"t{i}" for i in range(30)], 8)
    y = rng.integers(0, 2, len(threads))
    challenger, holder = y + rng.normal(0, 0.5, len(y)), y + rng.normal(0, 1.5, len(y))
    result = champion.paired_comparison(y, challenger, holder, threads, seed=1, resamples=300)
    interval = result["difference_interval"]
    assert 0 < interval["low"] < result["challenger_roc_auc"] - result["holder_roc_auc"] < interval["high"]
    assert interval["resamples"] == 300 and interval["level"] == 0.95


def test_alias_follows_the_same_data_comparison_not_the_metrics_of_different_data():
    table = rows(0.76, 0.58)  # below the holder's recorded 0.78 (other data), not below it on the same rows
    holder_version = {"version": "3", "metric": 0.78, "threads": {"t0"}}
    ok, reason = champion.alias_decision(table, table[0], {**holder_version, "comparison": comparison(0.71, 0.69)})
    assert ok and "ROC-AUC 0.71 is not below the current champion's (version 3, 0.69)" in reason
    assert "the same 40 comments of 12 threads that arrived since version 3 was trained" in reason
    assert "threads: t0, t1," in reason and "and 2 more, listed in registration.json" in reason
    ok, reason = champion.alias_decision(rows(0.80, 0.58), rows(0.80, 0.58)[0],
                                {**holder_version, "metric": 0.70, "comparison": comparison(0.66, 0.69, 3)})
    assert not ok and "ROC-AUC 0.66 is below the current champion (version 3, 0.69)" in reason
    assert "threads: t0, t1, t2)" in reason
    ok, reason = champion.alias_decision(rows(0.57, 0.58), rows(0.57, 0.58)[0], {**holder_version,
                                                                        "comparison": comparison(0.9, 0.5)})
    assert not ok and "does not beat tfidf_logreg" in reason  # baselines still come first


def test_without_new_threads_the_rule_falls_back_and_says_so():
    table = rows(0.76, 0.58)
    why = "no thread has arrived since version 3 was trained"
    ok, reason = champion.alias_decision(table, table[0], {"version": "3", "metric": 0.78, "fallback": why})
    assert not ok and "below the current champion (version 3, 0.78)" in reason
    assert f"compared on metrics of different data: {why}" in reason


class LengthModel(mlflow.pyfunc.PythonModel):
    """A stand-in registered model with the champion's interface that reads the thread context: longer raw
    text, higher score, when the request lists the comment's thread with the comment's parent in it; else 0."""

    def score_records(self, records, batch_size=None, now=None):
        def sees_parent(r):
            return "thread" in r and (r["parent_id"].startswith("t3_") or r["parent_id"][3:] in r["thread"].comment_id)
        return [ScoredRecord(len(r["text"]) / 100 if sees_parent(r) else 0.0, {}, [], None) for r in records]

    def predict(self, context, model_input, params=None):
        return np.array([scored.score for scored in self.score_records(model_input.to_dict("records"))])


def register_holder(tmp_path, threads: list[str] | None) -> MlflowClient:
    """Registers LengthModel as version 1 holding the `champion` alias, with its training threads logged."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        if threads is not None:
            write_json(tmp_path / champion.TRAINING_THREADS, threads)
            mlflow.log_artifact(str(tmp_path / champion.TRAINING_THREADS))
        # pip_requirements given: MLflow would otherwise infer them by loading the model in a fresh interpreter
        mlflow.pyfunc.log_model(name="model", python_model=LengthModel(), registered_model_name="reception-test",
                                pip_requirements=["mlflow"])
    client = MlflowClient()
    client.set_registered_model_alias("reception-test", "champion", "1")
    client.set_model_version_tag("reception-test", "1", "thread_cv_roc_auc_mean", "0.9")
    return client


def test_the_holder_is_loaded_from_a_real_store_and_scored_on_the_new_threads(tmp_path, monkeypatch):
    """A real sqlite store: the holder's recorded threads come back, it scores raw bodies of the new threads."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO_PARAMS, paths.PARAMS_FILE)
    frame = train_val()
    # Raw bodies: the holder (length) ranks the new threads' comments right; the challenger's OOF scores wrong.
    bodies = pd.DataFrame({"comment_id": frame["comment_id"],
                           "body": ["x" * (5 + 10 * y) for y in frame["well_received"]]})
    paths.LIVE_COMMENTS.parent.mkdir(parents=True)
    bodies.to_parquet(paths.LIVE_COMMENTS)
    paths.SILVER_COMMENTS.mkdir(parents=True)
    silver_comments(frame).to_parquet(paths.SILVER_COMMENTS / "part.0.parquet")
    family = "hybrid"
    predictions = paths.predictions_file("train", family)
    predictions.parent.mkdir(parents=True)
    pd.DataFrame({"comment_id": frame["comment_id"], "split": "thread_cv",
                  "score": 1.0 - frame["well_received"]}).to_parquet(predictions)
    try:
        client = register_holder(tmp_path, ["t0", "t1", "t2", "t3"])
        # As `register` records a version it registers: the holder is loaded only if its files match
        files = artifact_hashes.folder_hashes(artifact_hashes.download_version("reception-test", "1", tmp_path / "v1"))
        artifact_hashes.record_version(paths.REGISTERED_MODELS, "reception-test", "1", family, files)
        current = champion.current_champion(client, "reception-test", "champion")
        assert current["threads"] == {"t0", "t1", "t2", "t3"} and current["metric"] == 0.9
        current.update(champion.compare_with_holder(current, "reception-test", family, frame, seed=0))
    finally:
        mlflow.set_tracking_uri(None)
    shared = current["comparison"]
    assert shared["threads"] == ["t4", "t5"] and shared["rows"] == 8
    assert (shared["holder_roc_auc"], shared["challenger_roc_auc"]) == (1.0, 0.0)
    table = rows(0.95, 0.58)  # better than the holder's recorded metric, worse on the same rows
    ok, reason = champion.alias_decision(table, table[0], current)
    assert not ok and "the same 8 comments of 2 threads" in reason and "threads: t4, t5)" in reason


def test_an_older_holder_without_recorded_threads_falls_back(tmp_path):
    try:
        client = register_holder(tmp_path, None)
        current = champion.current_champion(client, "reception-test", "champion")
    finally:
        mlflow.set_tracking_uri(None)
    assert current["threads"] is None and champion.recorded_threads(client, None) is None
    assert champion.compare_with_holder(current, "reception-test", "hybrid", train_val(), seed=0) == {
        "fallback": "version 1 recorded no training threads"}
