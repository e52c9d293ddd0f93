"""Latency and throughput of the BentoML service against the seed's naive server, in one run.

Both servers start here on free loopback ports. At each concurrency (1, 8, 32) the two are measured
back to back, and the whole sequence is repeated ROUNDS times: the machines are shared VMs whose speed
drifts by tens of percent within minutes, so only measurements taken side by side compare. An idle
server uses no CPU while the other one is measured. Reported per server and concurrency: the median
throughput over the rounds and p50/p95 of all the rounds' latencies; the throughput ratio at
concurrency 32 is given per round. Requests are real comments. Results: bench/results.json and a
Markdown table. Run after `make run`:  .venv/bin/python bench/serve_bench.py
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
import pandas as pd

from reception.paths import LIVE_COMMENTS

BIN = Path(sys.executable).parent
RESULTS = Path("bench/results.json")
CONCURRENCY = (1, 8, 32)
REQUESTS_PER_LEVEL = {1: 150, 8: 400, 32: 640}
ROUNDS = 3
WARMUP = 20
BENTO, NAIVE = "bentoml (adaptive batching)", "naive (one forward pass per request)"


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
    raise SystemExit(f"server {' '.join(command)} did not start")


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


def summary(passes: list[tuple[float, np.ndarray]]) -> dict:
    latencies = np.concatenate([latency for _, latency in passes])
    return {"requests": len(latencies), "rounds": len(passes),
            "throughput_rps": round(float(np.median([rps for rps, _ in passes])), 1),
            "throughput_rps_per_round": [round(rps, 1) for rps, _ in passes],
            "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
            "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1)}


def main() -> None:
    texts = pd.read_parquet(LIVE_COMMENTS, columns=["body"])["body"].tolist()
    bento = json.loads(Path("models/bento.json").read_text())["bento"]
    servers = {
        BENTO: [str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port"],
        NAIVE: [sys.executable, "bench/naive_server.py"],
    }
    ports, processes = {}, []
    try:
        for name, command in servers.items():
            ports[name] = free_port()
            log = Path(tempfile.gettempdir()) / f"bench-{name.split()[0]}.log"
            processes.append(start([*command, str(ports[name])], ports[name], log))
            worker(ports[name], texts[:WARMUP])
        passes = {name: {c: [] for c in CONCURRENCY} for name in servers}
        for _ in range(ROUNDS):
            for concurrency in CONCURRENCY:
                for name in servers:
                    passes[name][concurrency].append(measure(ports[name], texts, concurrency))
    finally:
        for process in processes:
            stop(process)
    ratios = [round(b / n, 2) for (b, _), (n, _) in zip(passes[BENTO][32], passes[NAIVE][32])]
    results = {"machine": f"{os.cpu_count()} CPU cores", "bento": bento,
               "servers": {name: {c: summary(p) for c, p in levels.items()} for name, levels in passes.items()},
               "throughput_ratio_at_32": float(np.median(ratios)), "throughput_ratio_at_32_per_round": ratios}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("| server | concurrency | requests/s (median of rounds) | p50 ms | p95 ms |\n|---|---:|---:|---:|---:|")
    for name, levels in results["servers"].items():
        for concurrency, row in levels.items():
            print(f"| {name} | {concurrency} | {row['throughput_rps']} | {row['p50_ms']} | {row['p95_ms']} |")
    print(f"throughput at concurrency 32: {results['throughput_ratio_at_32']}x the naive server "
          f"(per round: {', '.join(f'{r}x' for r in ratios)})")

if __name__ == "__main__":
    main()
