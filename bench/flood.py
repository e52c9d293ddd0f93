"""Flood: the built bento under a flood of max-size batches beside a stream of single-text requests.

FLOOD_CLIENTS clients (params service.max_concurrency of them) each send, back to back on a keep-alive
connection, predict-batch requests of service.max_batch comments and send the next at once, whatever the
answer (a hostile or careless client: a 503's Retry-After is not honoured). Beside them SINGLE_CLIENTS
clients send one comment per request, each PAUSE_S after the previous answer: the ordinary users the
service's limits are there for; before the flood they run ALONE_S alone, for comparison. The flood sends
for --seconds; the scored flood requests then in flight are waited for. Reported (bench/flood.json):
  - single requests: statuses and latency p50/p95/p99 (target: p99 <= TARGET_SINGLE_P99_S)
  - flood requests: how many were scored (200) and refused (503, the queue bound service.max_queued_texts),
    other statuses, and the latency of each kind (a refusal should be quick: its p99)
  - 5xx other than the queue's 503, and connection errors (target: none)
  - the resident memory of every service process before the flood, every SAMPLE_S during it, at its end and
    once it has drained (target: each within 10 % from FLOOD_WARM_S on, after the first batches' buffers
    are allocated)
  - the CPU seconds the service's processes used per second of flood, the service's own counters (the
    detailed /health: refused requests) and the load average before and after (the machine is shared:
    read the numbers with it)
Run from the repository root after `make run`:  .venv/bin/python bench/flood.py [--seconds 75] [--from-source]
(--from-source serves the checkout's service/ with the bento's models, as bench/serve_bench.py does).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from serve_bench import BIN, free_port, start, stop
from soak import comments, rss_mb

from reception.params import load_params
from reception.paths import BENTO_FILE

RESULTS = Path("bench/flood.json")
SETTINGS = load_params("service")
FLOOD_CLIENTS, BATCH = SETTINGS["max_concurrency"], SETTINGS["max_batch"]
SINGLE_CLIENTS, PAUSE_S = 2, 0.05
FLOOD_WARM_S, SAMPLE_S, ALONE_S = 15, 5, 15
TARGET_SINGLE_P99_S, TARGET_RSS_GROWTH = 2.0, 0.10
SINGLE, FLOOD = "single", "flood"


def client(port: int, kind: str, bodies: list[bytes], deadline: float, pause_s: float, log: list) -> None:
    """Sends its bodies in turn until the deadline; appends (kind, status or None, seconds, detail of a 5xx)."""
    path = "/api/v1/predict-sentiment" if kind == SINGLE else "/api/v1/predict-batch"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    sent = 0
    while time.monotonic() < deadline:
        body = bodies[sent % len(bodies)]
        sent += 1
        started = time.perf_counter()
        try:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            log.append((kind, None, time.perf_counter() - started, repr(error)))
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            continue
        detail = answer[:200].decode(errors="replace") if response.status >= 500 else None
        log.append((kind, response.status, time.perf_counter() - started, detail))
        if pause_s:
            time.sleep(pause_s)


def percentiles_ms(seconds: list[float]) -> dict:
    if not seconds:
        return {}
    return {f"p{q}": round(float(np.percentile(seconds, q)) * 1000, 1) for q in (50, 95, 99)} | {
        "max": round(max(seconds) * 1000, 1)}


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) the service's processes have used so far."""
    import psutil

    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def detailed_health(port: int, token: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/health", headers={"Authorization": f"Bearer {token}"})
    return json.loads(connection.getresponse().read())


def flood(port: int, pid: int, texts: list[str], seconds: float) -> dict:
    singles = [json.dumps({"text": t}).encode() for t in texts[:500]]
    batches = [json.dumps({"texts": [texts[(start + i) % len(texts)] for i in range(BATCH)]}).encode()
               for start in range(0, 8 * BATCH, BATCH)]
    warm: list = []
    client(port, SINGLE, singles, time.monotonic() + 5, 0, warm)
    alone: list = []  # the single clients without the flood, for comparison on the same machine, minutes apart
    alone_threads = [threading.Thread(target=client, args=(port, SINGLE, singles[i::SINGLE_CLIENTS],
                                                           time.monotonic() + ALONE_S, PAUSE_S, alone))
                     for i in range(SINGLE_CLIENTS)]
    for thread in alone_threads:
        thread.start()
    for thread in alone_threads:
        thread.join()
    memory = {"before": rss_mb(pid)}
    cpu_before = cpu_seconds(pid)
    log: list = []
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=client, args=(port, FLOOD, [batches[i % len(batches)]], deadline, 0, log))
               for i in range(FLOOD_CLIENTS)]
    threads += [threading.Thread(target=client, args=(port, SINGLE, singles[i::SINGLE_CLIENTS], deadline, PAUSE_S,
                                                      log)) for i in range(SINGLE_CLIENTS)]
    for thread in threads:
        thread.start()
    series = []  # (seconds into the flood, RSS MiB of each process), every SAMPLE_S
    while (now := time.monotonic()) < deadline:
        series.append((round(now - started), rss_mb(pid)))
        if now - started >= FLOOD_WARM_S and f"at_{FLOOD_WARM_S}s" not in memory:
            memory[f"at_{FLOOD_WARM_S}s"] = series[-1][1]
        time.sleep(min(SAMPLE_S, max(0.0, deadline - time.monotonic())))
    memory["at_end"] = rss_mb(pid)
    cpu_at_end = cpu_seconds(pid)
    sending = time.monotonic() - started
    for thread in threads:  # the scored flood requests in flight when sending stopped finish first
        thread.join()
    elapsed = time.monotonic() - started
    time.sleep(SAMPLE_S)
    memory["after_drain"] = rss_mb(pid)
    by_kind = {}
    for kind in (SINGLE, FLOOD):
        entries = [(status, s) for k, status, s, _ in log if k == kind]
        statuses: dict[str, int] = {}
        for status, _ in entries:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        by_kind[kind] = {"requests": len(entries), "statuses": statuses,
                         "latency_ms": percentiles_ms([s for status, s in entries if status == 200]),
                         "refusal_latency_ms": percentiles_ms([s for status, s in entries if status == 503])}
    unexpected = [(kind, status, detail) for kind, status, _, detail in log
                  if status is not None and status >= 500 and not (status == 503 and "max_queued_texts" in detail)]
    growth = {name: round(memory["at_end"][name] / memory[f"at_{FLOOD_WARM_S}s"][name] - 1, 3)
              for name in memory["at_end"] if name in memory[f"at_{FLOOD_WARM_S}s"]}
    growth_from_before = {name: round(memory["at_end"][name] / memory["before"][name] - 1, 3)
                          for name in memory["at_end"] if name in memory["before"]}
    singles_alone = [s for _, status, s, _ in alone if status == 200]
    return {"sending_s": round(sending, 1), "seconds": round(elapsed, 1),
            "single_alone": {"seconds": ALONE_S, "requests": len(alone), "ok": len(singles_alone),
                             "latency_ms": percentiles_ms(singles_alone)},
            "service_cpu_s_per_s_while_sending": round((cpu_at_end - cpu_before) / sending, 2),
            "flood_clients": FLOOD_CLIENTS, "texts_per_flood_request": BATCH,
            "single_clients": SINGLE_CLIENTS, "single_pause_s": PAUSE_S, **by_kind,
            "texts_scored_per_s": round((by_kind[SINGLE]["statuses"].get("200", 0)
                                         + BATCH * by_kind[FLOOD]["statuses"].get("200", 0)) / elapsed, 1),
            "server_errors_other_than_queue_503": len(unexpected), "server_error_details": sorted(
                {f"{kind} {status}: {detail}" for kind, status, detail in unexpected})[:10],
            "connection_errors": sum(1 for _, status, _, _ in log if status is None),
            "rss_mb": memory, "rss_mb_series": series, f"rss_growth_from_{FLOOD_WARM_S}s": growth,
            "rss_growth_from_before": growth_from_before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=75)
    parser.add_argument("--from-source", action="store_true",
                        help="serve the checkout's service/ with the bento's models instead of the bento")
    args = parser.parse_args()
    token = secrets.token_hex(16)
    os.environ["RECEPTION_HEALTH_TOKEN"] = token  # the served process inherits it: the detailed /health
    bento = json.loads(BENTO_FILE.read_text())["bento"]
    texts = comments()
    load_before = os.getloadavg()
    port = free_port()
    served_as = "service.service:RedditReception" if args.from_source else bento
    log = Path(tempfile.gettempdir()) / "bench-flood.log"
    process = start([str(BIN / "bentoml"), "serve", served_as, "--host", "127.0.0.1", "--port", str(port)], port, log)
    try:
        flooded = flood(port, process.pid, texts, args.seconds)
        served = detailed_health(port, token)
    finally:
        stop(process)
    single_p99_s = flooded[SINGLE]["latency_ms"].get("p99", float("inf")) / 1000
    worker_growth = flooded[f"rss_growth_from_{FLOOD_WARM_S}s"]
    results = {
        "machine": f"{os.cpu_count()} CPU cores", "bento": bento,
        "service": "the checkout's service/ with the bento's models" if args.from_source else "the bento",
        "limits": {key: SETTINGS[key] for key in ("max_concurrency", "max_batch", "max_queued_texts", "model_batch")},
        "load_average_1_5_15_min": {"before": [round(x, 2) for x in load_before],
                                    "after": [round(x, 2) for x in os.getloadavg()]},
        **flooded,
        "service_counters": served["inference"],
        "targets": {
            "single_p99_s": {"target": TARGET_SINGLE_P99_S, "measured": round(single_p99_s, 3),
                             "met": single_p99_s <= TARGET_SINGLE_P99_S},
            "no_other_5xx": {"measured": flooded["server_errors_other_than_queue_503"],
                             "met": flooded["server_errors_other_than_queue_503"] == 0
                             and flooded["connection_errors"] == 0},
            "rss_flat": {"target": TARGET_RSS_GROWTH, "measured": worker_growth,
                         "met": all(abs(g) <= TARGET_RSS_GROWTH for g in worker_growth.values())}},
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
