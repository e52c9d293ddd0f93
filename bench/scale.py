"""Time and peak memory of the data stages at k times the corpus, on SYNTHETIC replicas of its threads.

SYNTHETIC: replica r of the corpus is every thread again under new ids (`<id>r<r>`, the links and
parents rewritten to match), same texts, times and scores. It measures how the stages' time and memory grow
with rows; it says nothing about model quality and is never used for it.

Each stage runs as `python stages/<stage>.py`, exactly what DVC runs, but in a scratch folder outside the
repository (its params.yaml a copy of the repository's, ingest.source the replicas), so that DVC's cache
does not hold a second copy of tens of GB. Peak RSS is the largest sum over the stage's process tree
(sampled every 0.2 s: Dask's process-based schedulers run work in child processes).

    python bench/scale.py --scales 1 5 25 --workdir /big/disk/scale     # results: bench/scale.json
    python bench/scale.py --scales 1 --subreddits CollegeRant           # a quick look

Results and the targets they are held to: docs/benchmarks.md, "Scale".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from reception.reddit.dumps import DUMP_SUFFIXES, read_lines  # noqa: E402

DATA_STAGES = ["ingest", "bronze", "silver", "interim", "processed"]
ID_FIELDS = ("id", "name", "link_id", "parent_id")  # every field that names a post or a comment
# A key for bronze's pseudonyms: the replicas are public data under new ids, not in data/public_sources.json.
BENCH_AUTHOR_KEY = "scale-benchmark-key-not-a-secret-0123456789"


def renamed(record: dict, replica: int) -> dict:
    """The record under replica `replica`'s ids (replica 0 is the corpus as it is)."""
    if replica == 0:
        return record
    return {**record, **{f: f"{record[f]}r{replica}" for f in ID_FIELDS if isinstance(record.get(f), str)}}


def write_replicas(corpus: Path, out: Path, scale: int, subreddits: list[str] | None) -> dict:
    """`scale` replicas of every dump file in `corpus` (or of `subreddits`') as one dump file each in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    lines = 0
    for suffix in DUMP_SUFFIXES.values():
        for path in sorted(corpus.glob(f"*{suffix}")):
            if subreddits and path.name.removesuffix(suffix) not in subreddits:
                continue
            with open(out / path.name, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as sink:
                for replica in range(scale):
                    for _, line in read_lines(path):
                        sink.write(json.dumps(renamed(json.loads(line), replica)).encode() + b"\n")
                        lines += 1
    return {"lines": lines, "bytes": sum(p.stat().st_size for p in out.iterdir())}


def run_stage(stage: str, workdir: Path, env: dict) -> dict:
    """Wall time and peak RSS (the process tree's sum) of one stage script run in `workdir`."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(REPO / "stages" / f"{stage}.py")], cwd=workdir, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass  # the process ended between listing and reading
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{stage} failed ({process.returncode}):\n{process.stderr.read()[-3000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_gb": round(peak / 2**30, 2)}


def bench_scale(scale: int, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"scale-{scale}x-", dir=args.workdir))
    try:
        started = time.perf_counter()
        replicas = write_replicas(args.corpus, workdir / "replicas", scale, args.subreddits)
        made = time.perf_counter() - started
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["ingest"].update(source=str(workdir / "replicas"), subreddits=None, since=None, until=None)
        (workdir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env = {**os.environ, "RECEPTION_AUTHOR_KEY": BENCH_AUTHOR_KEY, "PYTHONPATH": str(REPO / "src")}
        stages = {}
        for stage in DATA_STAGES:
            stages[stage] = run_stage(stage, workdir, env)
            print(f"{scale}x {stage}: {stages[stage]}", flush=True)
        rows = json.loads((workdir / "metrics/ingest.json").read_text())["comments"]["lines_read"]
        return {"scale": scale, "synthetic": True, "comment_lines": rows, "replica_files": replicas,
                "replicas_made_s": round(made, 1), "stages": stages,
                "total_s": round(sum(s["seconds"] for s in stages.values()), 1),
                "peak_rss_gb": max(s["peak_rss_gb"] for s in stages.values())}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5, 25])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/reddit-college")
    parser.add_argument("--subreddits", nargs="+", help="only these subreddits' files (a quick look)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: the system's temp)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/scale.json")
    args = parser.parse_args()
    results = [bench_scale(scale, args) for scale in args.scales]
    base = next((r for r in results if r["scale"] == 1), None)
    for result in results:  # the growth target: k times the corpus within 1.3 x k times the 1x time
        if base:
            result["time_vs_linear"] = round(result["total_s"] / (result["scale"] * base["total_s"]), 2)
    args.out.write_text(json.dumps({
        "synthetic": "replicas of the corpus's threads under new ids: time and memory only, never quality",
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "load_at_start": os.getloadavg()[0]},
        "subreddits": args.subreddits or "all", "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
