"""Latency and throughput of the BentoML service against the seed's naive server, in one run.

For each server (started here on a free loopback port, one at a time so they do not share the 2
cores): single-request latency p50/p95 at concurrency 1, then throughput at concurrency 1, 8 and 32.
Requests are real comments from the val split. Results: bench/results.json and a Markdown table.
Run after `make run`:  .venv/bin/python bench/serve_bench.py
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

BIN = Path(sys.executable).parent
RESULTS = Path("bench/results.json")
CONCURRENCY = (1, 8, 32)
REQUESTS_PER_LEVEL = {1: 150, 8: 400, 32: 640}
WARMUP = 20


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


def measure(port: int, texts: list[str]) -> dict:
    worker(port, texts[:WARMUP])
    levels = {}
    for concurrency in CONCURRENCY:
        batch = [texts[i % len(texts)] for i in range(REQUESTS_PER_LEVEL[concurrency])]
        shards = [batch[i::concurrency] for i in range(concurrency)]
        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            latencies = np.concatenate(list(pool.map(lambda shard: worker(port, shard), shards)))
        elapsed = time.perf_counter() - started
        levels[concurrency] = {"requests": len(batch), "throughput_rps": round(len(batch) / elapsed, 1),
                               "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
                               "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1)}
    return levels


def main() -> None:
    texts = pd.read_parquet("data/interim/comments_clean_step1.parquet", columns=["body"])["body"].tolist()
    bento = json.loads(Path("models/bento.json").read_text())["bento"]
    servers = {
        "bentoml (adaptive batching)": [str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port"],
        "naive (one forward pass per request)": [sys.executable, "bench/naive_server.py"],
    }
    results = {"machine": f"{os.cpu_count()} CPU cores", "bento": bento, "servers": {}}
    for (name, command), log in zip(servers.items(), ("bentoml", "naive")):
        port = free_port()
        process = start([*command, str(port)], port, Path(tempfile.gettempdir()) / f"bench-{log}.log")
        try:
            results["servers"][name] = measure(port, texts)
        finally:
            stop(process)
    bento_32 = results["servers"]["bentoml (adaptive batching)"][32]["throughput_rps"]
    naive_32 = results["servers"]["naive (one forward pass per request)"][32]["throughput_rps"]
    results["throughput_ratio_at_32"] = round(bento_32 / naive_32, 2)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("| server | concurrency | requests/s | p50 ms | p95 ms |\n|---|---:|---:|---:|---:|")
    for name, levels in results["servers"].items():
        for concurrency, row in levels.items():
            print(f"| {name} | {concurrency} | {row['throughput_rps']} | {row['p50_ms']} | {row['p95_ms']} |")
    print(f"throughput at concurrency 32: {results['throughput_ratio_at_32']}x the naive server")


if __name__ == "__main__":
    main()
