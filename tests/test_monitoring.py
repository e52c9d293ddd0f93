"""The prediction log (its schema, and that it never fails a request) and `reception monitor` (drift,
realized performance, the --check verdict), on logs the tests build and on a real `bentoml serve`."""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import f1_score, roc_auc_score

from conftest import call, champion, detailed_health
from reception import monitor
from reception.data.features import API_INPUTS
from reception.models.families import declared
from reception.paths import (
    BENTO_FILE,
    DATA_METRICS,
    PARAMS_FILE,
    REGISTER_METRICS,
    embeddings_file,
    family_metrics,
    predictions_file,
    split_file,
)
from reception.serving import prediction_log
from reception.serving.scored_record import ScoredRecord

BENTOML_COLUMNS = {"timestamp", "request_id", "trace_id"}  # what BentoML's default monitor adds to a record
SERVED = {"model_key": "hybrid", "bento_model": "reddit-reception:abc", "model_version": "7"}
USED = {"text": {"source": "request"}, "created_utc": {"value": 1762796919.0, "source": "request"},
        "post_created_utc": {"value": 1762795419.0, "source": "default: 25.0 min before created_utc"},
        "is_submitter": {"value": False, "source": "default: training majority"},
        "is_top_level": {"value": True, "source": "request"}, "parent_id": {"value": "t3_p1", "source": "request"}}


def request(texts: list[str], model_key: str = "hybrid", projection: bool = True):
    records = [{"text": t, "comment_id": f"c{i}", "post_id": "p1"} for i, t in enumerate(texts)]
    vectors = np.eye(len(texts), 384) if projection else [None] * len(texts)
    scored = [ScoredRecord(0.3, USED, [], v) for v in vectors]
    answers = [{"score": 0.3, "label": "negative", "model_key": model_key, "backend_model_name": "models:/r/7",
                "inputs_used": USED} for _ in texts]
    return records, scored, answers


def logged(folder: Path) -> tuple[list[dict], list[dict]]:
    data = [json.loads(line) for f in sorted((folder / prediction_log.MONITOR_NAME / "data").glob("data.*"))
            for line in f.read_text().splitlines()]
    [schema_file] = (folder / prediction_log.MONITOR_NAME / "schema").glob("schema.*.log")  # one per worker
    schema = json.loads(schema_file.read_text().splitlines()[0])
    return data, schema["columns"]


def test_log_records_follow_the_documented_schema(log_folder):
    log = prediction_log.PredictionLog(SERVED, log_text=False, min_free_mb=0)
    log.write(*request(["Great point!", "why though?"]))
    log.write(*request(["hola"], model_key="bert_nlptown", projection=False))
    assert log.flush()  # the records are written by the log's background thread
    data, columns = logged(log_folder)
    assert [c["name"] for c in columns] == list(prediction_log.SCHEMA)
    assert all((c["role"], c["type"]) == prediction_log.SCHEMA[c["name"]][:2] for c in columns)
    assert len(data) == 3 and all(set(r) == set(prediction_log.SCHEMA) | BENTOML_COLUMNS for r in data)
    first, zero_shot = data[0], data[2]
    assert (first["comment_id"], first["post_id"], first["model_version"]) == ("c0", "p1", "7")
    assert first["text_len"] == len("Great point!") and first["has_exclamation"] and not first["has_question"]
    assert len(first["text_projection"]) == prediction_log.TEXT_PROJECTION_DIM and "text" not in first
    assert first["created_utc_source"] == "request" and first["post_created_utc_source"] == "default"
    assert {first[name] for name in API_INPUTS} == {1762796919.0, 1762795419.0, False, True, "t3_p1"}
    assert zero_shot["bento_model"] is None and zero_shot["text_projection"] is None
    assert log.status() | {"folder": None} == {"ok": True, "sink": "default", "folder": None, "text_logged": False,
                                               "records_written": 3, "records_not_logged": 0, "records_dropped": 0,
                                               "records_skipped": 0, "records_queued": 0, "error": None}


def test_log_text_adds_the_raw_text(log_folder):
    log = prediction_log.PredictionLog(SERVED, log_text=True, min_free_mb=0)
    log.write(*request(["Great point!"]))
    assert log.flush()
    data, columns = logged(log_folder)
    assert data[0]["text"] == "Great point!" and columns[-1]["name"] == "text"


@pytest.mark.parametrize("problem", ["not a folder", "disk full"])
def test_an_unusable_log_folder_is_reported_and_never_raises(log_folder, problem):
    if problem == "not a folder":
        log_folder.write_text("a file where the folder should be")
    log = prediction_log.PredictionLog(SERVED, log_text=False, min_free_mb=0 if problem == "not a folder" else 1e12)
    log.write(*request(["Great point!", "why though?"]))
    status = log.status()
    assert not status["ok"] and status["records_written"] == 0 and status["records_not_logged"] == 2
    assert ("unusable" in status["error"]) and ("less than service.log_min_free_mb" in status["error"]) == (
        problem == "disk full")


def test_a_full_queue_drops_and_counts_records_and_scoring_goes_on(log_folder, monkeypatch):
    log = prediction_log.PredictionLog(SERVED, log_text=False, min_free_mb=0, queue_requests=1)
    monkeypatch.setattr(log, "start", lambda: None)  # no writer: the queue stays full after one request
    log.write(*request(["Great point!"]))
    log.write(*request(["why though?", "hola"]))
    status = log.status()
    assert (status["records_queued"], status["records_dropped"], status["records_not_logged"]) == (1, 2, 2)
    assert status["ok"] and status["records_written"] == 0


def test_a_failed_export_is_counted_and_reported_by_the_writer(log_folder, monkeypatch):
    log = prediction_log.PredictionLog(SERVED, log_text=False, min_free_mb=0)

    def broken(data):
        raise OSError("collector unreachable")

    monkeypatch.setattr(log, "export", broken)
    log.write(*request(["Great point!", "why though?"]))
    assert log.flush()
    status = log.status()
    assert (status["records_written"], status["records_not_logged"], status["records_dropped"]) == (0, 2, 0)
    assert "collector unreachable" in status["error"] and not status["ok"]


def test_projection_is_fixed_and_documented():
    vectors = np.random.default_rng(0).normal(size=(5, 384))
    np.testing.assert_array_equal(prediction_log.project(vectors), prediction_log.project(vectors.copy()))
    assert prediction_log.project(vectors).shape == (5, prediction_log.TEXT_PROJECTION_DIM)
    assert prediction_log.project(None) is None


def body(i: int) -> str:
    return f"comment number {i}: ﬁne, café"  # a ligature and an accent: NFKC would change the text


def test_realized_metrics_equal_scikit_learn_on_the_join(tmp_path):
    rng = np.random.default_rng(3)
    n, day = 400, 1767225600.0  # 2026-01-01
    log = pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)], "score": rng.random(n),
                        "request_time_utc": day + rng.integers(0, 2, n) * 86400 + rng.random(n) * 3600,
                        "text_sha256": [prediction_log.text_sha256(body(i)) for i in range(n)]})
    # Someone replays real comment ids with other texts and confident wrong scores, after the real predictions:
    # none of them may reach realized performance, nor hide the real prediction of its comment.
    replayed = pd.DataFrame({"comment_id": [f"c{i}" for i in range(0, n, 3)], "score": 0.5,
                             "request_time_utc": day + 2 * 86400, "text_sha256": prediction_log.text_sha256("spam")})
    final = rng.integers(-5, 40, n)
    created = day - 600
    lines = []
    for i in range(n):  # an early, immature observation, then the final one; every 10th comment never matures
        lines.append({"comment_id": f"c{i}", "score": 999, "created_utc": created, "observed_utc": created + 3600,
                      "body": body(i)})
        if i % 10:
            lines.append({"comment_id": f"c{i}", "score": int(final[i]), "created_utc": created,
                          "observed_utc": created + 30 * 3600, "body": body(i)})
    lines.append({"comment_id": "c1", "score": 999, "created_utc": created})  # no observed_utc: never mature
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "comments.ndjson").write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")

    outcomes = monitor.read_outcomes(tmp_path, min_age_hours=24)
    matured, join = monitor.join_outcomes(pd.concat([log, replayed], ignore_index=True), outcomes, threshold=5.0)
    keep = np.arange(n) % 10 != 0
    replayed_matured = sum(1 for i in range(0, n, 3) if i % 10)
    assert join == {"predictions_with_comment_id": n + len(replayed), "matched": keep.sum(), "repeated": 0,
                    "text_mismatch": replayed_matured, "no_matured_outcome": n - keep.sum() + len(replayed)
                    - replayed_matured}
    y, score = (final[keep] >= 5).astype(int), log["score"].to_numpy()[keep]
    assert len(matured) == keep.sum()
    np.testing.assert_array_equal(matured["y_true"], y)
    metrics = monitor.realized_metrics(matured)
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    assert metrics["f1"] == pytest.approx(f1_score(y, score >= 0.5))
    observed, predicted = calibration_curve(y, score, n_bins=10, strategy="uniform")
    counts = np.histogram(score, bins=np.linspace(0, 1, 11))[0]
    assert metrics["ece"] == pytest.approx(np.sum(np.abs(observed - predicted) * counts[counts > 0]) / len(y))
    by_day = monitor.realized_by_day(matured)
    assert by_day["rows"].sum() == len(matured) and list(by_day["day"]) == ["2026-01-01", "2026-01-02"]


def test_roc_auc_floor_prefers_the_recorded_interval(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    family_metrics("a").parent.mkdir(parents=True)
    for family, roc_auc, floor in (("a", {"mean": 0.76, "std": 0.09}, 0.67),
                                   ("b", {"mean": 0.76, "std": 0.09, "interval": [0.70, 0.82]}, 0.70)):
        family_metrics(family).write_text(json.dumps({"thread_cv": {"roc_auc": roc_auc}}))
        assert monitor.roc_auc_floor(family) == pytest.approx(floor)


# ---- on the pipeline's real outputs (session fixtures of conftest.py) ----

def stream_from_test_split(repo: Path, hours_into_thread: float | None) -> list[dict]:
    """Log records of the test split's comments as the champion scored them, all requested on one day;
    hours_into_thread: pretend every comment was written this long after its thread started."""
    test = pd.read_parquet(repo / split_file("test"))
    family = json.loads((repo / REGISTER_METRICS).read_text())["family"]
    scores = pd.read_parquet(repo / predictions_file(declared(repo / PARAMS_FILE)[family].stage, family))
    scores = scores[scores["split"] == "test"].set_index("comment_id")["score"]
    projections = prediction_log.project(np.load(repo / embeddings_file("test")))
    start = test["thread_start_utc"].astype("float64")
    created = start + 3600 * hours_into_thread if hours_into_thread is not None else test["created_utc"].astype(float)
    day = 1767225600.0
    return [{"request_time_utc": day + i * 60, "model_key": family, "comment_id": row.comment_id,
             "post_id": row.post_id, "text_len": row.text_len, "has_exclamation": bool(row.has_exclamation),
             "has_question": bool(row.has_question), "text_projection": list(projections[i]),
             "created_utc": float(created.iloc[i]), "post_created_utc": float(start.iloc[i]),
             "is_submitter": bool(row.is_submitter), "is_top_level": bool(row.is_top_level),
             **{f"{name}_source": "request" for name in API_INPUTS},
             "score": float(scores[row.comment_id]), "label": "?"} for i, row in enumerate(test.itertuples())]


def monitored(repo: Path, records: list[dict], tmp_path: Path, monkeypatch, capsys) -> tuple[int, dict, str]:
    log_dir = tmp_path / "log"
    (log_dir / prediction_log.MONITOR_NAME / "data").mkdir(parents=True)
    (log_dir / prediction_log.MONITOR_NAME / "data" / "data.0.log").write_text(
        "".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.chdir(repo)
    parser = argparse.ArgumentParser()
    monitor.configure(parser)
    args = parser.parse_args(["--since", "2026-01-01", "--until", "2026-01-08", "--log-dir", str(log_dir),
                              "--out", str(tmp_path / "out"), "--outcomes", str(tmp_path / "none"), "--check"])
    status = monitor.run(args)
    return status, json.loads((tmp_path / "out" / "monitoring.json").read_text()), capsys.readouterr().out


@pytest.mark.integration
def test_unshifted_test_split_does_not_drift(model_repo, tmp_path, monkeypatch, capsys):
    status, report, out = monitored(model_repo, stream_from_test_split(model_repo, None), tmp_path, monkeypatch, capsys)
    assert status == 0 and "retrain recommended" not in out, out
    assert report["window"]["champion_predictions"] == 624 and not report["check"]["reasons"]
    assert (tmp_path / "out" / "report.html").stat().st_size > 0
    drift = pd.read_csv(tmp_path / "out" / "drift.csv")
    assert {"minutes_since_thread_start", "text_len", "text_projection_0", "score"} <= set(drift["series"])
    assert not drift["alert"].any()
    assert report["default_share"] == {name: 0.0 for name in API_INPUTS}
    assert len(pd.read_csv(tmp_path / "out" / "estimated_roc_auc.csv")) == 3  # estimate and its band, one window


@pytest.mark.integration
def test_comments_written_ten_hours_into_their_thread_raise_the_drift_flag(model_repo, tmp_path, monkeypatch,
                                                                           capsys):
    status, report, out = monitored(model_repo, stream_from_test_split(model_repo, 10.0), tmp_path, monkeypatch, capsys)
    assert status == 1 and "retrain recommended" in out
    assert report["drift"]["minutes_since_thread_start"]["windows_alerted"] == 1
    assert report["drift"]["text_len"]["windows_alerted"] == 0


def settled(url: str, timeout_s: float = 10.0) -> dict:
    """/health's prediction_log once the service's background writer has written every queued record."""
    deadline = time.monotonic() + timeout_s
    while (health := detailed_health(url)["prediction_log"])["records_queued"] and time.monotonic() < deadline:
        time.sleep(0.1)
    return health


@pytest.mark.integration
def test_served_requests_are_logged_with_the_documented_schema(service, pipeline_env):
    url, repo = service["url"], service["repo"]
    status, single = call(f"{url}/api/v1/predict-sentiment", {"text": "Great explanation, thanks!",
                                                              "comment_id": "logtest1", "post_id": "p9",
                                                              "created_utc": 1762796919.0, "is_top_level": True})
    assert status == 200
    status, _ = call(f"{url}/api/v1/predict-batch", {"texts": ["why?", "ok then"],
                                                     "metadata": [{"comment_id": "logtest2"}, {}]})
    assert status == 200
    health = settled(url)
    folder = Path(health["folder"])
    assert health["ok"] and health["sink"] == "default"
    assert folder == Path(pipeline_env["BENTOML_HOME"]) / "logs/predictions"  # service.log_dir, in BentoML's home
    data, columns = logged(folder)
    assert [c["name"] for c in columns] == list(prediction_log.SCHEMA)
    mine = {r["comment_id"]: r for r in data if r["comment_id"] in ("logtest1", "logtest2")}
    assert set(mine) == {"logtest1", "logtest2"} and all(set(r) == set(prediction_log.SCHEMA) | BENTOML_COLUMNS
                                                         for r in data)
    record = mine["logtest1"]
    bento = json.loads((repo / BENTO_FILE).read_text())
    registration = json.loads((repo / REGISTER_METRICS).read_text())
    assert (record["bento_model"], record["model_version"]) == (bento["model"], registration["version"])
    assert record["post_id"] == "p9" and record["score"] == pytest.approx(single["score"])
    assert record["label"] == single["label"] and "text" not in record
    assert record["text_sha256"] and record["text_len"] == len("Great explanation, thanks!")
    family = champion(repo)
    if family.uses_metadata:
        assert record["created_utc"] == 1762796919.0 and record["created_utc_source"] == "request"
        # Accepted but not read by the served model (the ablation left it out): logged as not read.
        assert record["is_submitter"] is None and record["is_submitter_source"] is None
    # the projection of the sentence embedding the model read; none for a family that reads none (thread_gbm)
    if "embedding" in family.reads:
        assert len(record["text_projection"]) == prediction_log.TEXT_PROJECTION_DIM
    else:
        assert record["text_projection"] is None
    assert any(p.startswith("/api/v1/predict") for p in call(f"{url}/docs.json")[1]["paths"])
    assert "comment_id" in json.dumps(call(f"{url}/docs.json")[1]["components"])


@pytest.mark.integration
def test_an_unwritable_log_folder_leaves_scoring_working(service):
    url = service["url"]
    folder = Path(detailed_health(url)["prediction_log"]["folder"])
    moved = folder.with_name("predictions.moved")
    folder.rename(moved)
    folder.write_text("a file where the log folder should be")
    try:
        time.sleep(prediction_log.PROBE_INTERVAL_S + 1)  # the folder is re-checked at most this often
        status, body = call(f"{url}/api/v1/predict-sentiment", {"text": "Still scored?", "comment_id": "lost1"})
        assert status == 200 and 0 <= body["score"] <= 1
        health = detailed_health(url)
        assert health["status"] == "ok" and not health["prediction_log"]["ok"]
        assert "unusable" in health["prediction_log"]["error"] and health["prediction_log"]["records_not_logged"] >= 1
    finally:
        folder.unlink()
        moved.rename(folder)
    time.sleep(prediction_log.PROBE_INTERVAL_S + 1)
    assert detailed_health(url)["prediction_log"]["ok"]


def test_an_empty_window_recommends_nothing(tmp_path, monkeypatch, capsys):
    """No traffic is not a worse model: the report is written and --check passes."""
    monkeypatch.chdir(tmp_path)
    family_metrics("hybrid").parent.mkdir(parents=True)
    REGISTER_METRICS.write_text(json.dumps({"family": "hybrid"}))
    family_metrics("hybrid").write_text(json.dumps({"thread_cv": {"roc_auc": {"mean": 0.7, "std": 0.1}}}))
    DATA_METRICS.write_text(json.dumps({"label": {"threshold": 5.0}}))
    params = {"ingest": {"source": "raw"}, "label": {"min_age_hours": 24},
              "service": {"log_dir": str(tmp_path / "logs"), "log_retention_days": 6},
              "monitoring": {"window": 7, "chunk_period": "D", "min_chunk_rows": 200, "drift_threshold": 0.15}}
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    parser = argparse.ArgumentParser()
    monitor.configure(parser)
    with pytest.raises(SystemExit, match="log_retention_days must be a whole number of days >= monitoring.window"):
        monitor.run(parser.parse_args(["--check"]))  # a retention shorter than the window
    params["service"]["log_retention_days"] = 7
    (tmp_path / "params.yaml").write_text(json.dumps(params))
    assert monitor.run(parser.parse_args(["--check"])) == 0
    report = json.loads((tmp_path / "metrics/monitoring/monitoring.json").read_text())
    assert report["window"]["predictions"] == 0 and report["check"] == {"retrain_recommended": False, "reasons": []}
    assert "no champion prediction in the window" in capsys.readouterr().out


def test_check_recommends_retraining_below_the_floor_only_on_enough_evidence():
    no_drift = pd.DataFrame({"window": ["2026-01-01T00:00"], "series": ["text_len"], "distance": [0.1],
                             "rows": [500], "alert": [False]})
    estimate = pd.DataFrame({"window": ["2026-01-01T00:00"], "rows": [500], "roc_auc": [0.74], "lower": [0.70],
                             "upper": [0.78]})
    report = {"roc_auc_floor": 0.676, "drift_threshold": 0.15,
              "realized": {"rows": 300, "roc_auc": 0.61, "f1": 0.5, "ece": 0.1}}
    [reason] = monitor.retrain_reasons(report, no_drift, estimate, min_rows=200)
    assert reason.startswith("realized ROC-AUC 0.610 on 300 matured predictions is below the thread-CV floor 0.676")
    report["realized"]["rows"] = 50  # too few matured scores to judge
    assert monitor.retrain_reasons(report, no_drift, estimate, min_rows=200) == []
    low = estimate.assign(roc_auc=0.6, lower=0.55, upper=0.65)  # the whole CBPE band below the floor
    assert "estimated ROC-AUC 0.600" in monitor.retrain_reasons(report, no_drift, low, min_rows=200)[0]


# ---- the log's files: the window, unreadable lines, retention ----

def log_file(folder: Path, name: str, lines: list[bytes], last_written: float) -> Path:
    path = folder / prediction_log.MONITOR_NAME / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    os.utime(path, (last_written, last_written))
    return path


def log_line(time_utc: float, **fields) -> bytes:
    return json.dumps({"request_time_utc": time_utc, "model_key": "hybrid", "score": 0.4, **fields}).encode()


def test_the_monitor_reads_only_the_files_of_its_window_and_skips_and_counts_broken_lines(tmp_path):
    since, until = pd.Timestamp("2026-01-10", tz="UTC"), pd.Timestamp("2026-01-17", tz="UTC")
    t = since.timestamp()
    # Last written before the window: not opened (its lines would be counted as unreadable if it were).
    log_file(tmp_path, "data.0.log.2026-01-08", [b"garbage", log_line(t - 3600)], t - 60)
    log_file(tmp_path, "data.0.log.2026-01-09", [log_line(t - 60), log_line(t + 60, comment_id="a")], t + 60)
    log_file(tmp_path, "data.0.log", [log_line(t + 7200, comment_id="b"),
                                      b'{"request_time_utc": 1768039200, "model_key": "hyb',  # cut by a crash
                                      b"\xff\xfe not utf-8", b"[1, 2]", log_line(t + 7300, score="high"), b"",
                                      log_line(until.timestamp(), comment_id="late")], until.timestamp() + 5)
    log_file(tmp_path, "data.1.log", [log_line(t + 10, comment_id="c")], t + 10)
    log, reading = monitor.read_log(tmp_path, since, until)
    assert log["comment_id"].tolist() == ["c", "a", "b"]  # in request order, until excluded
    assert reading == {"files_read": 3, "files_outside_window": 1, "lines_skipped": 4}


def test_rotated_log_files_older_than_the_retention_are_deleted_and_nothing_else(tmp_path):
    now, day = 1768000000.0, 86400
    old = log_file(tmp_path, "data.0.log.2025-12-01", [log_line(now - 40 * day)], now - 31 * day)
    kept_rotated = log_file(tmp_path, "data.1.log.2025-12-02", [log_line(now - 40 * day)], now - 29 * day)
    active = log_file(tmp_path, "data.0.log", [log_line(now - 40 * day)], now - 40 * day)  # a worker writes it
    other = log_file(tmp_path, "data.0.log.notes", [b"x"], now - 40 * day)
    schema = tmp_path / prediction_log.MONITOR_NAME / "schema" / "schema.0.log"
    schema.parent.mkdir(parents=True)
    schema.write_text("{}")
    os.utime(schema, (now - 40 * day, now - 40 * day))
    assert prediction_log.expire_log_files(tmp_path, 30, now=now) == [old]
    assert not old.exists() and all(p.exists() for p in (kept_rotated, active, other, schema))


@pytest.mark.parametrize("value", [0, -1, 6, 7.5, "30", True, None])
def test_a_log_retention_shorter_than_the_window_or_not_whole_days_is_refused(value):
    with pytest.raises(ValueError, match="log_retention_days must be a whole number of days >= monitoring.window"):
        prediction_log.log_retention_days(value, window=7)
    assert prediction_log.log_retention_days(7, window=7) == 7


def test_the_monitor_hashes_a_body_as_the_log_hashes_the_text_it_scored():
    texts = ["ﬁne", "cafe\u0301", "café", "line\r\nbreak ", "😀 emoji"]
    records, scored, answers = request(texts)
    logged_hashes = prediction_log.columns(records, scored, answers, SERVED, False, 0.0)["text_sha256"]
    assert logged_hashes == [prediction_log.text_sha256(t) for t in texts]
    assert len(set(logged_hashes)) == len(texts)  # no normalisation merges two texts on either side
