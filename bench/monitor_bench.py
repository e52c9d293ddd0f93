"""How long `reception monitor` takes over a week of 100,000 logged predictions (target: 60 s on 2 cores).

The log is synthetic but shaped like the service's: train-split comments (inputs, embedding projection,
out-of-fold champion score) resampled over 7 days, a third of them with a matured final score in an
outcomes folder. Everything goes to a temporary folder; `reception monitor` runs as a fresh process, so the
time includes importing NannyML. Run from a repository where `make run` has built the outputs:
    .venv/bin/python bench/monitor_bench.py [rows]
Results: bench/monitor_results.json.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reception.data.features import API_INPUTS
from reception.models.families import declared
from reception.paths import REGISTER_METRICS, embeddings_file, predictions_file, split_file
from reception.serving.prediction_log import MONITOR_NAME, project

RESULTS = Path("bench/monitor_results.json")
DAYS, START = 7, 1767225600.0  # 2026-01-01 UTC
RECEPTION = Path(sys.executable).parent / "reception"


def synthetic_log(rows: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """JSON lines of the prediction log, and of matured outcomes for a third of them."""
    train = pd.read_parquet(split_file("train"))
    family = json.loads(REGISTER_METRICS.read_text())["family"]
    scores = pd.read_parquet(predictions_file(declared()[family].stage, family)).query("split == 'thread_cv'")
    score = train["comment_id"].map(scores.set_index("comment_id")["score"]).to_numpy()
    projections = project(np.load(embeddings_file("train")))
    pick = rng.integers(0, len(train), rows)
    requested = np.sort(START + rng.random(rows) * DAYS * 86400)
    log, outcomes = [], []
    for i, (j, at) in enumerate(zip(pick, requested, strict=True)):
        row = train.iloc[j]
        age = float(row["created_utc"]) - float(row["thread_start_utc"])
        log.append(json.dumps({
            "request_time_utc": at, "model_key": family, "comment_id": f"s{i}", "post_id": row["post_id"],
            "text_len": int(row["text_len"]), "has_exclamation": bool(row["has_exclamation"]),
            "has_question": bool(row["has_question"]), "text_projection": projections[j].round(5).tolist(),
            "created_utc": at, "post_created_utc": at - age, "is_submitter": bool(row["is_submitter"]),
            "is_top_level": bool(row["is_top_level"]), **{f"{n}_source": "request" for n in API_INPUTS},
            "score": float(score[j]), "label": "positive" if score[j] >= 0.5 else "negative"}))
        if i % 3 == 0:
            outcomes.append(json.dumps({"comment_id": f"s{i}", "score": int(row["score"]), "created_utc": at,
                                        "observed_utc": at + 30 * 3600}))
    return log, outcomes


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log, outcomes = synthetic_log(rows, np.random.default_rng(0))
        (folder / "log" / MONITOR_NAME / "data").mkdir(parents=True)
        (folder / "log" / MONITOR_NAME / "data" / "data.0.log").write_text("\n".join(log) + "\n")
        (folder / "outcomes").mkdir()
        (folder / "outcomes" / "batch.ndjson").write_text("\n".join(outcomes) + "\n")
        command = [str(RECEPTION), "monitor", "--since", "2026-01-01", "--until", "2026-01-08",
                   "--log-dir", str(folder / "log"), "--outcomes", str(folder / "outcomes"),
                   "--out", str(folder / "out")]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True,
                              env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"})
        seconds = time.monotonic() - started
        print(done.stdout + done.stderr[-2000:])
        if done.returncode not in (0, 1):
            raise SystemExit(f"reception monitor failed ({done.returncode})")
        result = {"rows": rows, "days": DAYS, "seconds": round(seconds, 1), "cpus": os.cpu_count(),
                  "log_mb": round((folder / "log" / MONITOR_NAME / "data" / "data.0.log").stat().st_size / 2**20, 1)}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"reception monitor over {rows:,} logged predictions ({DAYS} days): {seconds:.1f} s")


if __name__ == "__main__":
    main()
