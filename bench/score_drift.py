"""What `monitoring.drift_threshold` rests on: Jensen-Shannon distances `reception monitor` measures on streams
built from the test split (comments neither the served model nor the references hold), unshifted and shifted.

  unshifted      the whole test split as logged, one window (scores: the champion's stored test scores)
  unshifted/200  WINDOWS windows of min_chunk_rows comments each, drawn from the test split without
                 replacement: the noise of the smallest window that can alert
  shifted        every comment written SHIFT_H hours into its thread, re-scored by the champion (the hybrid
                 family reads the timing), one window
Printed: per stream the score's distance and the largest input distance, and the score reference in use.
Run after `make run`:  .venv/bin/python bench/score_drift.py     Results: bench/score_drift.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_monitoring import stream_from_test_split  # noqa: E402 - the tests' stream builder

from reception import monitor  # noqa: E402
from reception.paths import BENTO_FILE, PARAMS_FILE, split_file  # noqa: E402
from reception.serving import prediction_log  # noqa: E402

RESULTS = Path("bench/score_drift.json")
WINDOWS, SHIFT_H, DAY = 20, 10.0, 86400.0


def distances(records: list[dict], days: int) -> pd.DataFrame:
    """drift.csv of `reception monitor` over these records (their request_time_utc from 2026-01-01 on)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "log" / prediction_log.MONITOR_NAME / "data"
        data.mkdir(parents=True)
        (data / "data.0.log").write_text("".join(json.dumps(r) + "\n" for r in records))
        parser = argparse.ArgumentParser()
        monitor.configure(parser)
        until = (pd.Timestamp("2026-01-01") + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
        folder = Path(tmp)
        monitor.run(parser.parse_args(["--since", "2026-01-01", "--until", until, "--log-dir", str(folder / "log"),
                                          "--out", str(folder / "out"), "--outcomes", str(folder / "none")]))
        return pd.read_csv(Path(tmp) / "out" / "drift.csv")


def rescored(records: list[dict], hours: float) -> list[dict]:
    """The records with every comment written `hours` into its thread, scored again by the champion."""
    import bentoml.mlflow

    bento = json.loads(BENTO_FILE.read_text())
    scorer = bentoml.mlflow.load_model(bento["model"]).unwrap_python_model()
    test = pd.read_parquet(split_file("test"))
    requests = [{"text": row.clean_text, "created_utc": float(row.thread_start_utc) + 3600 * hours,
                 "post_created_utc": float(row.thread_start_utc), "is_submitter": bool(row.is_submitter),
                 "is_top_level": bool(row.is_top_level)} for row in test.itertuples()]
    scored = scorer.score_records(requests, batch_size=32)
    return [{**r, "score": s.score} for r, s in zip(records, scored, strict=True)]


def summary(drift: pd.DataFrame) -> dict:
    inputs = drift[drift["series"] != "score"]
    top = inputs.loc[inputs["distance"].idxmax()]
    return {"score": float(drift.loc[drift["series"] == "score", "distance"].max()),
            "largest_input": {"series": top["series"], "distance": float(top["distance"])}}


def main() -> None:
    min_rows = yaml.safe_load(PARAMS_FILE.read_text())["monitoring"]["min_chunk_rows"]
    unshifted = stream_from_test_split(ROOT, None)
    rng = np.random.default_rng(0)
    windows = []
    for day in range(WINDOWS):
        picked = rng.choice(len(unshifted), min_rows, replace=False)
        windows += [{**unshifted[i], "request_time_utc": 1767225600.0 + day * DAY + k} for k, i in enumerate(picked)]
    small = distances(windows, WINDOWS)
    score_small = small.loc[small["series"] == "score", "distance"]
    results = {
        "score_reference": f"the champion's scores of the {monitor.SCORE_REFERENCE_SPLIT} split",
        "unshifted": summary(distances(unshifted, 1)),
        f"unshifted_{min_rows}_rows": {
            "windows": WINDOWS, "score_max": float(score_small.max()),
            "score_p95": round(float(np.percentile(score_small, 95)), 4),
            "inputs_max": float(small.loc[small["series"] != "score", "distance"].max()),
            "inputs_p95": round(float(np.percentile(small.loc[small["series"] != "score", "distance"], 95)), 4)},
        f"shifted_{SHIFT_H:g}_h_rescored": summary(distances(rescored(stream_from_test_split(ROOT, SHIFT_H), SHIFT_H),
                                                             1)),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
