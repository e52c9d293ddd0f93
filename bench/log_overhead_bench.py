"""What the prediction log costs the service, measured two ways; target: at most 5 % of throughput at concurrency 32.

1. Deterministic (no server, no quiet machine needed): the CPU time one logged record costs in-process
   (bench/log_cost.py: PredictionLog.write on COMMENTS comments the service's own code scored, the background
   writer included) divided by the CPU time the service process spends per request at concurrency 32 (the
   server with logging off, below). The share of the service's CPU that logging takes is the share of
   throughput it costs when the service is CPU-bound, as it is at concurrency 32 on these machines.
2. End to end: the same service twice, logging on and logging off (BentoML's `monitoring.enabled: false`
   through BENTOML_CONFIG_OVERRIDES: `PredictionLog.write` then returns at once), measured at concurrency 32
   in ROUNDS short rounds. Each round measures both servers back to back, in ABBA order (on-off, off-on,
   ...) so that a machine that speeds up or slows down within a round favours neither; a round's cost is
   1 - throughput(on) / throughput(off). Reported: the median over rounds and its 95 % bootstrap interval
   (BOOTSTRAP resamples of the rounds), and the same for the servers' CPU time per request (psutil, the
   server process and its workers), which other load on the machine disturbs less than throughput.
The verdict is "met" when the interval's upper end is at most 5 %, "missed" when its lower end is above,
else "unresolved" (the machine was too noisy: run it again on a quieter one). The load average before and
after is recorded with the results; numbers taken at a load average well above 0 are upper bounds.

Serves the working tree's service (`bentoml serve service.service:RedditReception`, with the models that
models/bento.json declares), so that it measures the code as it is; `--bento` serves the built bento instead.
Run after `make run`:  .venv/bin/python bench/log_overhead_bench.py [--rounds N] [--bento]
Results: bench/log_overhead.json (every round's numbers included).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from serve_bench import BIN, WARMUP, free_port, start, stop, summary, worker

from reception.paths import BENTO_FILE, LIVE_COMMENTS

RESULTS = Path("bench/log_overhead.json")
CONCURRENCY = 32
REQUESTS_PER_PASS = 320
ROUNDS = 20
BOOTSTRAP = 10000
TARGET = 0.05
COMMENTS = 1000
LOGGING_OFF = json.dumps({"services": {"reddit_reception": {"monitoring": {"enabled": False}}}})
ON, OFF = "logging on", "logging off"


def cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU time of a server: its process and every worker it started."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(port: int, process: psutil.Process, texts: list[str]) -> tuple[float, np.ndarray, float]:
    """(requests per second, latencies in seconds, server CPU seconds per request) of one pass."""
    from concurrent.futures import ThreadPoolExecutor

    batch = [texts[i % len(texts)] for i in range(REQUESTS_PER_PASS)]
    shards = [batch[i::CONCURRENCY] for i in range(CONCURRENCY)]
    cpu_before, started = cpu_seconds(process), time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        latencies = np.concatenate(list(pool.map(lambda shard: worker(port, shard), shards)))
    elapsed = time.perf_counter() - started
    return len(batch) / elapsed, latencies, (cpu_seconds(process) - cpu_before) / len(batch)


def interval(values: list[float], rng: np.random.Generator) -> list[float]:
    """95 % bootstrap interval of the median of `values` (resampling the rounds)."""
    samples = rng.choice(np.asarray(values), size=(BOOTSTRAP, len(values)), replace=True)
    low, high = np.percentile(np.median(samples, axis=1), [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def verdict(bounds: list[float]) -> str:
    if bounds[1] <= TARGET:
        return f"met: the whole interval is at most {TARGET:.0%}"
    if bounds[0] > TARGET:
        return f"missed: the whole interval is above {TARGET:.0%}"
    return f"unresolved: the interval straddles {TARGET:.0%}; run again on a quieter machine"


def in_process_cost() -> dict:
    """bench/log_cost.py's per-record CPU time, in this process before any server starts."""
    import log_cost

    calls, served = log_cost.served_requests(COMMENTS)
    return log_cost.measure(calls, served)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--bento", action="store_true", help="serve the built bento (models/bento.json), not the "
                                                             "working tree's service")
    args = parser.parse_args()
    load_before = os.getloadavg()
    per_record = in_process_cost()
    texts = pd.read_parquet(LIVE_COMMENTS, columns=["body"])["body"].tolist()
    target = json.loads(BENTO_FILE.read_text())["bento"] if args.bento else "service.service:RedditReception"
    ports, processes = {}, {}
    folder = tempfile.mkdtemp(prefix="bench-prediction-log-")  # not the service's own log folder
    logging_on = json.dumps({"services": {"reddit_reception": {"monitoring": {"options": {"log_path": folder}}}}})
    try:
        for name, overrides in ((ON, logging_on), (OFF, LOGGING_OFF)):
            if overrides:
                os.environ["BENTOML_CONFIG_OVERRIDES"] = overrides
            ports[name] = free_port()
            log = Path(tempfile.gettempdir()) / f"bench-{name.replace(' ', '-')}.log"
            processes[name] = start([str(BIN / "bentoml"), "serve", target, "--host", "127.0.0.1", "--port",
                                     str(ports[name])], ports[name], log)
            os.environ.pop("BENTOML_CONFIG_OVERRIDES", None)
            worker(ports[name], texts[:WARMUP])
        servers = {name: psutil.Process(process.pid) for name, process in processes.items()}
        passes = {name: [] for name in ports}
        for round_ in range(args.rounds):
            for name in ((ON, OFF) if round_ % 2 == 0 else (OFF, ON)):  # ABBA
                passes[name].append(measure(ports[name], servers[name], texts))
        records = sum(1 for f in Path(folder).rglob("data.*.log*") for _ in f.open())
    finally:
        for process in processes.values():
            stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    if records < sum(len(lat) for _, lat, _ in passes[ON]):
        raise SystemExit(f"the server with logging on wrote {records} records: is logging on?")
    load_after = os.getloadavg()
    rng = np.random.default_rng(0)
    costs = [1 - on[0] / off[0] for on, off in zip(passes[ON], passes[OFF], strict=True)]
    cpu_costs = [on[2] / off[2] - 1 for on, off in zip(passes[ON], passes[OFF], strict=True)]
    cpu_off_ms = 1000 * float(np.median([p[2] for p in passes[OFF]]))
    cpu_on_ms = 1000 * float(np.median([p[2] for p in passes[ON]]))
    deterministic = per_record["total_cpu_ms_per_record"] / cpu_off_ms
    results = {
        "machine": f"{os.cpu_count()} CPU cores", "served": target, "concurrency": CONCURRENCY,
        "target": f"logging costs at most {TARGET:.0%} of throughput at concurrency {CONCURRENCY}",
        "load_average_1_5_15_min": {"before": [round(x, 2) for x in load_before],
                                    "after": [round(x, 2) for x in load_after]},
        "deterministic": {
            "what": "CPU time per logged record in-process (bench/log_cost.py) / the service's CPU time per "
                    "request with logging off at this concurrency (one text per request)",
            "per_record": per_record, "service_cpu_ms_per_request": round(cpu_off_ms, 3),
            "logging_share_of_service_cpu": round(deterministic, 4),
            "verdict": "met" if deterministic <= TARGET else "missed"},
        "end_to_end": {
            "what": f"{args.rounds} rounds of {REQUESTS_PER_PASS} requests per server, ABBA order; cost = "
                    "1 - throughput(on) / throughput(off) per round; median and its 95 % bootstrap interval",
            "servers": {name: {**summary([(rps, lat) for rps, lat, _ in p]),
                               "cpu_ms_per_request": round(1000 * float(np.median([c for _, _, c in p])), 3)}
                        for name, p in passes.items()},
            "throughput_cost": round(float(np.median(costs)), 4),
            "throughput_cost_interval_95": interval(costs, rng),
            "throughput_cost_per_round": [round(c, 4) for c in costs],
            "cpu_per_request_cost": round(float(np.median(cpu_costs)), 4),
            "cpu_per_request_cost_interval_95": interval(cpu_costs, rng),
            "cpu_per_request_cost_per_round": [round(c, 4) for c in cpu_costs]},
    }
    results["end_to_end"]["verdict"] = verdict(results["end_to_end"]["throughput_cost_interval_95"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    e2e = results["end_to_end"]
    print(f"load average (1, 5, 15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"deterministic: one logged record costs {per_record['total_cpu_ms_per_record']:.4f} ms of CPU "
          f"({per_record['request_path_ms_per_record']:.4f} ms of it on the request path); the service spends "
          f"{cpu_off_ms:.2f} ms of CPU per request without logging -> logging is {100 * deterministic:.2f} % "
          f"of the service's CPU ({results['deterministic']['verdict']}, target {TARGET:.0%})")
    for name, row in e2e["servers"].items():
        print(f"{name}: {row['throughput_rps']} requests/s median of {row['rounds']} rounds, p50 {row['p50_ms']} ms, "
              f"p95 {row['p95_ms']} ms, {row['cpu_ms_per_request']} ms CPU per request")
    print(f"end to end: logging costs {100 * e2e['throughput_cost']:.1f} % of throughput, 95 % interval "
          f"[{100 * e2e['throughput_cost_interval_95'][0]:.1f}, {100 * e2e['throughput_cost_interval_95'][1]:.1f}] % "
          f"over {args.rounds} ABBA rounds (per round: {', '.join(f'{100 * c:.1f}' for c in costs)} %); "
          f"{e2e['verdict']}")
    print(f"CPU per request: logging adds {100 * e2e['cpu_per_request_cost']:.1f} %, 95 % interval "
          f"[{100 * e2e['cpu_per_request_cost_interval_95'][0]:.1f}, "
          f"{100 * e2e['cpu_per_request_cost_interval_95'][1]:.1f}] %; per request with logging on "
          f"{cpu_on_ms:.2f} ms, off {cpu_off_ms:.2f} ms")
    print(f"results: {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
