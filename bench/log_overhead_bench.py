"""What the prediction log costs: the bento with logging on against the same bento with it off.

Both servers run the bento of models/bento.json; the second one gets BentoML's monitoring turned off
through BENTOML_CONFIG_OVERRIDES (so `bentoml.monitor` is a no-op and nothing is written). They are
measured back to back at concurrency 32 in ROUNDS interleaved rounds, as in serve_bench.py, because these
shared machines drift by tens of percent within minutes. Target: logging costs at most 5 % of throughput.
Run after `make run`:  .venv/bin/python bench/log_overhead_bench.py [rounds]   Results: bench/log_overhead.json.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from serve_bench import BIN, ROUNDS, WARMUP, free_port, measure, start, stop, summary, worker

from reception.paths import BENTO_FILE, LIVE_COMMENTS

RESULTS = Path("bench/log_overhead.json")
CONCURRENCY = 32
LOGGING_OFF = json.dumps({"services": {"reddit_reception": {"monitoring": {"enabled": False}}}})


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    texts = pd.read_parquet(LIVE_COMMENTS, columns=["body"])["body"].tolist()
    bento = json.loads(BENTO_FILE.read_text())["bento"]
    ports, processes = {}, []
    try:
        for name, overrides in (("logging on", None), ("logging off", LOGGING_OFF)):
            if overrides:
                os.environ["BENTOML_CONFIG_OVERRIDES"] = overrides
            ports[name] = free_port()
            log = Path(tempfile.gettempdir()) / f"bench-{name.replace(' ', '-')}.log"
            processes.append(start([str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port",
                                    str(ports[name])], ports[name], log))
            os.environ.pop("BENTOML_CONFIG_OVERRIDES", None)
            worker(ports[name], texts[:WARMUP])
        passes = {name: [] for name in ports}
        for _ in range(rounds):
            for name in ports:
                passes[name].append(measure(ports[name], texts, CONCURRENCY))
    finally:
        for process in processes:
            stop(process)
    costs = [round(1 - on / off, 3) for (on, _), (off, _) in zip(passes["logging on"], passes["logging off"],
                                                                  strict=True)]
    results = {"machine": f"{os.cpu_count()} CPU cores", "bento": bento, "concurrency": CONCURRENCY,
               "servers": {name: summary(p) for name, p in passes.items()},
               "throughput_cost": float(np.median(costs)), "throughput_cost_per_round": costs}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name, row in results["servers"].items():
        print(f"{name}: {row['throughput_rps']} requests/s (rounds {row['throughput_rps_per_round']}), "
              f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms")
    print(f"logging costs {100 * results['throughput_cost']:.1f} % of throughput at concurrency {CONCURRENCY} "
          f"(per round: {', '.join(f'{100 * c:.1f} %' for c in costs)})")


if __name__ == "__main__":
    main()
