"""CPU time of one prediction-log record, in-process: PredictionLog.write on records the service's own code built.

COMMENTS comments of data/interim (text, Reddit ids and metadata, as a client may send them) are scored by the
locked winner as the service scores them (its batches, encoder batch and contributions) and answered as the
service answers them (reception.serving.answers); then each is written as its own request (what
/api/v1/predict-sentiment does) through PredictionLog.write into a temporary folder with BentoML's default
(file) monitor. Reported per record:
  request path  CPU time of the calling thread inside write(): what delays the event loop and the response
  total         CPU time of the whole process from the first write until every record is on disk
                (the request path plus the background writer's thread)
The numbers are deterministic up to the machine's speed: they need no server and no quiet machine.
Run after `make run`:  .venv/bin/python bench/log_cost.py [comments]
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
COMMENTS = 1000
METADATA = ("created_utc", "post_created_utc", "is_submitter", "is_top_level")


def requests(n: int) -> list[dict]:
    """n comments as requests: text, comment_id, post_id and the metadata the comment has."""
    from reception.paths import FEATURE_COMMENTS

    frame = pd.read_parquet(ROOT / FEATURE_COMMENTS).head(n)
    out = []
    for row in frame.itertuples():
        record = {"text": row.body, "comment_id": row.comment_id, "post_id": row.post_id}
        for name in METADATA:
            value = getattr(row, name)
            if not pd.isna(value):
                record[name] = float(value) if name.endswith("_utc") else bool(value)
        out.append(record)
    return out


def served_requests(n: int) -> tuple[list[tuple[list, list, list]], dict]:
    """(records, scored, answers) per single-text request, as the service builds them, and `served`."""
    import bentoml.mlflow

    from reception.serving import answers
    from service.config import MANIFEST, SETTINGS

    scorer = bentoml.mlflow.load_model(MANIFEST.model).unwrap_python_model()
    records, batch = requests(n), SETTINGS["model_batch"]
    scored = []
    for start in range(0, len(records), batch):
        scored += scorer.score_records(records[start:start + batch], batch_size=SETTINGS["encode_batch_size"],
                                       with_contributions=True)
    answered = [answers.prediction(r["text"], s, MANIFEST.family, "models:/reddit-reception/1")
                for r, s in zip(records, scored, strict=True)]
    served = {"model_key": MANIFEST.family, "bento_model": MANIFEST.model, "model_version": "1"}
    return [([r], [s], [a]) for r, s, a in zip(records, scored, answered, strict=True)], served


def measure(calls: list[tuple[list, list, list]], served: dict) -> dict:
    """Per-record CPU time (ms) of PredictionLog.write into a fresh folder with the default monitor."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.monitoring import api as bentoml_monitoring

    from reception.serving import prediction_log

    with tempfile.TemporaryDirectory() as folder:
        BentoMLContainer.config.monitoring.options.log_path.set(folder)
        bentoml_monitoring._MONITOR_INSTANCES.clear()
        log = prediction_log.PredictionLog(served, log_text=False, min_free_mb=0)
        log.write(*calls[0])  # the schema block and the monitor's set-up, once per process
        log.flush()
        process_start, thread_spent = time.process_time(), 0.0
        for call in calls:
            began = time.thread_time()
            log.write(*call)
            thread_spent += time.thread_time() - began
        log.flush()
        total = time.process_time() - process_start
        lines = sum(1 for f in Path(folder).rglob("data.*") for _ in f.open())
        log.close()
        bentoml_monitoring._MONITOR_INSTANCES.clear()
    assert lines == len(calls) + 1, (lines, len(calls))
    return {"records": len(calls), "request_path_ms_per_record": round(1000 * thread_spent / len(calls), 4),
            "total_cpu_ms_per_record": round(1000 * total / len(calls), 4)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else COMMENTS
    calls, served = served_requests(n)
    result = measure(calls, served)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
