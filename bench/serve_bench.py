"""Latency and throughput of the BentoML service, against the model's own in-process limit and
IMEDIA's naive server, in one run; then a soak of the service.

Three things are measured side by side, ROUNDS times (the machines are shared VMs whose speed drifts by
tens of percent within minutes, so only measurements taken together compare):
  in-process  the locked winner's own scoring code (ReceptionModel.score_records, what the service calls,
              without the contributions the service also asks for),
              loaded here without HTTP, on the same comments with the service's settings (encoder
              batch, torch threads): one comment per call, and batches of the service's MODEL_BATCH.
              This is the ceiling of any server of this model on this machine.
  bento       `bentoml serve` of the built bento, at concurrency 1, 8 and 32
  naive       bench/naive_server.py (IMEDIA's design: FastAPI, one forward pass per request)
An idle server uses no CPU while another is measured. Reported: the median throughput over the rounds
and p50/p95 of all the rounds' latencies; the bento's throughput at concurrency 32 as a fraction of the
batched in-process ceiling, and its single-request p50 against the in-process single-call p50.
Then bench/soak.py runs against the bento for SOAK_S seconds at concurrency 32 with its memory tracked.
Results: bench/results.json and Markdown tables. Run after `make run`:  .venv/bin/python bench/serve_bench.py
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from soak import comments, soak

from reception.params import load_params
from reception.paths import BENTO_FILE, CHAMPION_DIR

BIN = Path(sys.executable).parent
RESULTS = Path("bench/results.json")
CONCURRENCY = (1, 8, 32)
REQUESTS_PER_LEVEL = {1: 150, 8: 400, 32: 640}
IN_PROCESS_COMMENTS = 640
ROUNDS = 3
WARMUP = 20
SOAK_S = 120
SETTINGS = load_params("service")
MODEL_BATCH = SETTINGS["model_batch"]
TARGET_FRACTION, TARGET_SINGLE_EXTRA_MS = 0.80, 5.0
BENTO, NAIVE = "bentoml (in-process batcher)", "naive (one forward pass per request)"
IN_PROCESS_SINGLE, IN_PROCESS_BATCH = "in-process, one comment per call", f"in-process, batches of {MODEL_BATCH}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    raise SystemExit(f"server {' '.join(command)} did not start; see {log}")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def worker(port: int, texts: list[str]) -> list[float]:
    """One client with a keep-alive connection; returns each request's latency in seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    latencies = []
    for text in texts:
        body = json.dumps({"text": text})
        started = time.perf_counter()
        connection.request("POST", "/api/v1/predict-sentiment", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"port {port}: status {response.status} for {text[:60]!r}")
    return latencies


def measure(port: int, texts: list[str], concurrency: int) -> tuple[float, np.ndarray]:
    """(requests per second, latencies in seconds) of one pass at this concurrency."""
    batch = [texts[i % len(texts)] for i in range(REQUESTS_PER_LEVEL[concurrency])]
    shards = [batch[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = np.concatenate(list(pool.map(lambda shard: worker(port, shard), shards)))
    return len(batch) / (time.perf_counter() - started), latencies


def in_process_scorer():
    """The locked winner's scoring code as the service runs it: same model, encoder batch, torch threads, and
    the loaded objects frozen out of the garbage collector's reach (gc.freeze), as the service does."""
    import gc

    import mlflow
    import torch

    torch.set_num_threads(SETTINGS["torch_threads"])
    scorer = mlflow.pyfunc.load_model(str(CHAMPION_DIR)).unwrap_python_model()
    gc.freeze()
    return lambda texts: scorer.score_records([{"text": t} for t in texts], batch_size=SETTINGS["encode_batch_size"])


def measure_in_process(score, texts: list[str], batch: int) -> tuple[float, np.ndarray]:
    """(comments per second, per-call latencies in seconds) of scoring IN_PROCESS_COMMENTS comments."""
    chunks = [[texts[(i + j) % len(texts)] for j in range(batch)] for i in range(0, IN_PROCESS_COMMENTS, batch)]
    latencies = []
    started = time.perf_counter()
    for chunk in chunks:
        began = time.perf_counter()
        score(chunk)
        latencies.append(time.perf_counter() - began)
    return len(chunks) * batch / (time.perf_counter() - started), np.array(latencies)


def summary(passes: list[tuple[float, np.ndarray]]) -> dict:
    latencies = np.concatenate([latency for _, latency in passes])
    return {"requests": len(latencies), "rounds": len(passes),
            "throughput_rps": round(float(np.median([rps for rps, _ in passes])), 1),
            "throughput_rps_per_round": [round(rps, 1) for rps, _ in passes],
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1)}


def main() -> None:
    texts = comments()
    bento = json.loads(BENTO_FILE.read_text())["bento"]
    servers = {
        BENTO: [str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port"],
        NAIVE: [sys.executable, "bench/naive_server.py"],
    }
    score = in_process_scorer()
    score(texts[:WARMUP])
    in_process = {IN_PROCESS_SINGLE: [], IN_PROCESS_BATCH: []}
    ports, processes = {}, {}
    try:
        for name, command in servers.items():
            ports[name] = free_port()
            log = Path(tempfile.gettempdir()) / f"bench-{name.split()[0]}.log"
            processes[name] = start([*command, str(ports[name])], ports[name], log)
            worker(ports[name], texts[:WARMUP])
        passes = {name: {c: [] for c in CONCURRENCY} for name in servers}
        for _ in range(ROUNDS):
            in_process[IN_PROCESS_SINGLE].append(measure_in_process(score, texts, 1))
            in_process[IN_PROCESS_BATCH].append(measure_in_process(score, texts, MODEL_BATCH))
            for concurrency in CONCURRENCY:
                for name in servers:
                    passes[name][concurrency].append(measure(ports[name], texts, concurrency))
        stop(processes.pop(NAIVE))
        soaked = soak(f"http://127.0.0.1:{ports[BENTO]}", SOAK_S, 32, processes[BENTO].pid, texts)
    finally:
        for process in processes.values():
            stop(process)
    ceiling = [rps for rps, _ in in_process[IN_PROCESS_BATCH]]
    fractions = [round(rps / c, 2) for (rps, _), c in zip(passes[BENTO][32], ceiling, strict=True)]
    ratios = [round(b / n, 2) for (b, _), (n, _) in zip(passes[BENTO][32], passes[NAIVE][32], strict=True)]
    results = {"machine": f"{os.cpu_count()} CPU cores", "bento": bento,
               "in_process": {name: summary(p) for name, p in in_process.items()},
               "servers": {name: {c: summary(p) for c, p in levels.items()} for name, levels in passes.items()},
               "fraction_of_ceiling_at_32": float(np.median(fractions)),
               "fraction_of_ceiling_at_32_per_round": fractions,
               "throughput_ratio_to_naive_at_32": float(np.median(ratios)),
               "throughput_ratio_to_naive_at_32_per_round": ratios, "soak": soaked}
    single_p50 = results["servers"][BENTO][1]["p50_ms"]
    in_process_p50 = results["in_process"][IN_PROCESS_SINGLE]["p50_ms"]
    results["targets"] = {
        "fraction_of_ceiling_at_32": {"target": TARGET_FRACTION, "measured": results["fraction_of_ceiling_at_32"],
                                      "met": results["fraction_of_ceiling_at_32"] >= TARGET_FRACTION},
        "single_request_p50_ms": {"target": round(in_process_p50 + TARGET_SINGLE_EXTRA_MS, 1),
                                  "measured": single_p50, "met": single_p50 <= in_process_p50 + TARGET_SINGLE_EXTRA_MS},
        "soak": {"met": soaked["server_errors"] == 0 and soaked["connection_errors"] == 0 and not soaked["problems"]
                 and all(g <= 0.10 for g in soaked.get("rss_growth_from_30s", {}).values())},
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("| what | concurrency | comments or requests/s (median of rounds) | p50 ms | p95 ms |\n"
          "|---|---:|---:|---:|---:|")
    for name, row in results["in_process"].items():
        print(f"| {name} | - | {row['throughput_rps']} | {row['p50_ms']} (per call) | {row['p95_ms']} |")
    for name, levels in results["servers"].items():
        for concurrency, row in levels.items():
            print(f"| {name} | {concurrency} | {row['throughput_rps']} | {row['p50_ms']} | {row['p95_ms']} |")
    print(f"\nbento at concurrency 32: {results['fraction_of_ceiling_at_32']} of the in-process ceiling "
          f"(per round: {fractions}; target {TARGET_FRACTION}); {results['throughput_ratio_to_naive_at_32']}x "
          f"the naive server (per round: {ratios})")
    print(f"single request p50 {single_p50} ms against in-process {in_process_p50} ms "
          f"(target: at most +{TARGET_SINGLE_EXTRA_MS} ms)")
    print(f"\nsoak {soaked['seconds']} s at concurrency 32: {soaked['requests']} requests "
          f"({soaked['requests_per_s']}/s), {soaked['server_errors']} 5xx, {soaked['connection_errors']} connection "
          f"errors, {len(soaked['problems'])} bad answers; latency ms {json.dumps(soaked['latency_ms'])}; "
          f"RSS growth from the 30th s: {json.dumps(soaked.get('rss_growth_from_30s'))}")


if __name__ == "__main__":
    main()
