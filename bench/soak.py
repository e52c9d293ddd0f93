"""Soak: a served API under steady concurrent load mixing single, batch and bad requests.

Every client keeps a keep-alive connection and sends, in a seeded random order, single predictions
(half with thread metadata), batches of 2-16 comments and bad requests (each with the 4xx the API
documents). Reported: counts by kind and status, connection errors, 5xx, bad requests that got
anything but their 4xx with a `detail` message, latency percentiles per kind, and, when the server's
process id is given, the resident memory of it and every child process at the 30th second and at the
end. Used by `make bench` (120 s) and tests/test_service.py (a short run):
    python bench/soak.py URL [--seconds 120] [--concurrency 32] [--pid PID]   (prints JSON)
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from reception.paths import LIVE_COMMENTS

METADATA = {"created_utc": 1762796919.0, "post_created_utc": 1762795419.0, "is_submitter": False,
            "is_top_level": True}
# (path, raw body, the status the API documents for it)
BAD = [
    ("predict-sentiment", json.dumps({"text": ""}), 422),
    ("predict-sentiment", json.dumps({"text": " \n "}), 422),
    ("predict-sentiment", json.dumps({"text": 42}), 422),
    ("predict-sentiment", '{"text": "unterminated', 400),
    ("predict-sentiment", json.dumps({"text": "x" * 10001}), 413),
    ("predict-sentiment", json.dumps({"text": "ok", "model_key": "gpt"}), 422),
    ("predict-sentiment", json.dumps({"text": "ok", "created_utc": 100, "post_created_utc": 200}), 422),
    ("predict-batch", json.dumps({"texts": []}), 422),
    ("predict-batch", json.dumps({"texts": ["a", "b"], "metadata": [{}]}), 422),
]
MEMORY_FROM_S = 30


def comments() -> list[str]:
    return pd.read_parquet(LIVE_COMMENTS, columns=["body"])["body"].tolist()


def next_request(rng: random.Random, texts: list[str]) -> tuple[str, str, str, int]:
    """(kind, path, body, expected status) of one request: 60 % single, 25 % batch, 15 % bad."""
    draw = rng.random()
    if draw < 0.60:
        body = {"text": rng.choice(texts), **(METADATA if rng.random() < 0.5 else {})}
        return "single", "predict-sentiment", json.dumps(body), 200
    if draw < 0.85:
        return "batch", "predict-batch", json.dumps({"texts": rng.sample(texts, rng.randint(2, 16))}), 200
    path, body, status = rng.choice(BAD)
    return "bad", path, body, status


def client(url: str, texts: list[str], seed: int, deadline: float, log: list) -> None:
    """Sends requests until the deadline; appends (kind, status or None, seconds, problem or None)."""
    parts, rng = urlsplit(url), random.Random(seed)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    while time.monotonic() < deadline:
        kind, path, body, expected = next_request(rng, texts)
        started = time.perf_counter()
        try:
            connection.request("POST", f"/api/v1/{path}", body.encode(), {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            log.append((kind, None, time.perf_counter() - started, f"connection: {error!r}"))
            connection.close()
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
            continue
        problem = None
        if response.status != expected:
            problem = f"{kind} {path}: {response.status}, expected {expected}: {answer[:200]!r}"
        elif kind == "bad" and not json.loads(answer).get("detail"):
            problem = f"bad {path}: {response.status} without a detail message"
        log.append((kind, response.status, time.perf_counter() - started, problem))


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory (MiB) of the process and each of its children, by 'pid command'."""
    import psutil

    root = psutil.Process(pid)
    out = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            name = " ".join(process.cmdline()[:4])[-80:]
            out[f"{process.pid} {name}"] = round(process.memory_info().rss / 2**20, 1)
        except psutil.NoSuchProcess:
            continue
    return out


def soak(url: str, seconds: float, concurrency: int, pid: int | None = None, texts: list[str] | None = None) -> dict:
    texts = texts or comments()
    log: list = []
    started = time.monotonic()
    deadline = started + seconds
    memory = {}
    with ThreadPoolExecutor(concurrency) as pool:
        for seed in range(concurrency):
            pool.submit(client, url, texts, seed, deadline, log)
        if pid is not None and seconds > MEMORY_FROM_S:
            time.sleep(MEMORY_FROM_S)
            memory["at_30s"] = rss_mb(pid)
            time.sleep(max(0.0, deadline - time.monotonic()))
            memory["at_end"] = rss_mb(pid)
    elapsed = time.monotonic() - started
    statuses: dict[str, dict[str, int]] = {}
    for kind, status, _, _ in log:
        statuses.setdefault(kind, {}).setdefault(str(status), 0)
        statuses[kind][str(status)] += 1
    latencies = {kind: np.array([s for k, st, s, _ in log if k == kind and st is not None])
                 for kind in ("single", "batch", "bad")}
    result = {
        "seconds": round(elapsed, 1), "concurrency": concurrency, "requests": len(log),
        "requests_per_s": round(len(log) / elapsed, 1), "statuses": statuses,
        "server_errors": sum(1 for _, status, _, _ in log if status is not None and status >= 500),
        "connection_errors": sum(1 for _, status, _, _ in log if status is None),
        "problems": sorted({p for *_, p in log if p})[:20],
        "latency_ms": {kind: {f"p{q}": round(float(np.percentile(values, q)) * 1000, 1) for q in (50, 95, 99)}
                       for kind, values in latencies.items() if len(values)},
    }
    if memory:
        growth = {name: round(memory["at_end"][name] / before - 1, 3)
                  for name, before in memory["at_30s"].items() if name in memory["at_end"]}
        result["rss_mb"] = memory
        result["rss_growth_from_30s"] = growth
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pid", type=int)
    args = parser.parse_args()
    if not LIVE_COMMENTS.is_dir():
        raise SystemExit("run from the repository root after `make run` (it reads the comments)")
    print(json.dumps(soak(args.url, args.seconds, args.concurrency, args.pid), indent=2))


if __name__ == "__main__":
    main()
