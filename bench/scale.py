"""Time and peak memory of the data stages at k times the corpus, on SYNTHETIC replicas of its threads.

SYNTHETIC: replica r of the corpus is every thread again under new ids (`<id>r<r>`, the links and
parents rewritten to match), same texts, times and scores. It measures how the stages' time and memory grow
with rows; it says nothing about model quality and is never used for it.

The embedding (`stages/embed.py`, the sample profile's families read it) shares one cache across the scales
of a run. Before the first scale's embed the cache is filled with PLACEHOLDER vectors (random, under the real
keys of every distinct text of the first scale's splits: SYNTHETIC, for the lookup's timing only), because
encoding the corpus's 360k distinct texts for real takes about 50 minutes on a quiet 2-core machine (122 texts/s
measured on the new day's texts, 29-75 while the machine is shared); `--encode-first` encodes them for real
instead. Every scale's embed then finds every text in
the cache: what is left is the lookup and the assembly of the arrays. After the largest scale, one new day of
NEW_DAY_TEXTS texts no run has seen (copies of train rows with a marker appended to the text: SYNTHETIC too,
but of real lengths) is added to its train split and embed runs again: those texts are encoded for real, on
top of the large store, and their rate says what a first encoding of the whole corpus costs.

Each stage runs as `python stages/<stage>.py`, exactly what DVC runs, but in a scratch folder outside the
repository (its params.yaml a copy of the repository's, ingest.source the replicas), so that DVC's cache
does not hold a second copy of tens of GB. Peak RSS is the largest sum over the stage's process tree
(sampled every 0.2 s: Dask's process-based schedulers run work in child processes).

    python bench/scale.py --scales 1 5 25 --workdir /big/disk/scale     # results: bench/scale.json
    python bench/scale.py --scales 1 --subreddits CollegeRant           # a quick look
    python bench/scale.py --scales 1 5 --no-embed                        # the data stages alone

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

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
import zstandard

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from reception.models.embedding_cache import producer, text_key, write_shards  # noqa: E402
from reception.models.encoder import PRECISION  # noqa: E402
from reception.reddit.dumps import DUMP_SUFFIXES, read_lines  # noqa: E402

DATA_STAGES = ["ingest", "bronze", "silver", "interim", "processed"]
ID_FIELDS = ("id", "name", "link_id", "parent_id")  # every field that names a post or a comment
# A key for bronze's pseudonyms: the replicas are public data under new ids, not in data/public_sources.json.
BENCH_AUTHOR_KEY = "scale-benchmark-key-not-a-secret-0123456789"
NEW_DAY_TEXTS = 20_000


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
    """Wall time and peak RSS (the process tree's sum) of one stage script run in `workdir`; for embed, the
    line that says what it encoded and reused."""
    log = workdir / f"{stage}.log"  # a file, not a pipe: a half-hour encoding writes progress for all of it
    started = time.perf_counter()
    with open(log, "w") as sink:
        process = subprocess.Popen([sys.executable, str(REPO / "stages" / f"{stage}.py")], cwd=workdir, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT, text=True)
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass  # the process ended between listing and reading
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    output = log.read_text()
    if process.returncode:
        raise SystemExit(f"{stage} failed ({process.returncode}):\n{output[-3000:]}")
    result = {"seconds": round(seconds, 1), "peak_rss_gb": round(peak / 2**30, 2)}
    said = [line for line in output.splitlines() if line.startswith("embed: encoded")]
    return {**result, "said": said[-1]} if said else result


def add_new_day(split_path: Path, texts: int) -> int:
    """SYNTHETIC: up to `texts` more rows at the end of the split file (as many as it has, on a quick look),
    copies of its first rows under new ids with a marker appended to each text, so that no cache holds them.
    Streamed: the file is never read whole. Returns the rows added."""
    source = pq.ParquetFile(split_path)
    batches, held = [], 0
    for batch in source.iter_batches(batch_size=texts):
        batches.append(batch)
        held += batch.num_rows
        if held >= texts:
            break
    day = pa.Table.from_batches(batches, schema=source.schema_arrow).slice(0, texts).to_pydict()
    day["comment_id"] = [f"{cid}d{i}" for i, cid in enumerate(day["comment_id"])]
    day["clean_text"] = [f"{text} (new day {i})" for i, text in enumerate(day["clean_text"])]
    grown = split_path.with_suffix(".grown")
    with pq.ParquetWriter(grown, source.schema_arrow) as writer:
        for batch in source.iter_batches(batch_size=65_536):
            writer.write_batch(batch)
        writer.write_table(pa.Table.from_pydict(day, schema=source.schema_arrow))
    os.replace(grown, split_path)
    return len(day["comment_id"])


def fill_placeholders(workdir: Path, cache_dir: Path, weights_sha256: str) -> dict:
    """PLACEHOLDER vectors (seeded random float32, for timing only) under the real keys of every distinct text
    of the scratch folder's splits, as the CPU producer: embed then finds every text in the cache."""
    started = time.perf_counter()
    texts = set()
    for split in ("train", "val", "test"):
        table = pq.read_table(workdir / f"data/processed/{split}.parquet", columns=["clean_text"])
        texts.update(table.column("clean_text").to_pylist())
    producer_id = producer(weights_sha256, "cpu", PRECISION)
    keys = [text_key(producer_id, text) for text in sorted(texts)]
    vectors = np.random.default_rng(0).normal(size=(len(keys), 384)).astype("float32")
    write_shards(cache_dir, producer_id, keys, vectors)
    return {"placeholder_vectors": len(keys), "seconds": round(time.perf_counter() - started, 1)}


def bench_scale(scale: int, args: argparse.Namespace, new_day: bool) -> dict:
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
        filled = None
        if args.embed:
            (workdir / "data").mkdir(exist_ok=True)
            (workdir / "data/embedding_cache").symlink_to(args.embedding_cache)  # one cache for every scale
            if not args.encode_first and not any(args.embedding_cache.iterdir()):
                filled = fill_placeholders(workdir, args.embedding_cache, params["encoder"]["sha256"])
                print(f"{scale}x cache filled: {filled}", flush=True)
            stages["embed"] = run_stage("embed", workdir, env)
            print(f"{scale}x embed: {stages['embed']}", flush=True)
        if args.embed and new_day:
            added = add_new_day(workdir / "data/processed/train.parquet", NEW_DAY_TEXTS)
            stages["embed_new_day"] = {"texts": added, **run_stage("embed", workdir, env)}
            print(f"{scale}x embed, one new day of {added:,} texts: {stages['embed_new_day']}", flush=True)
        rows = json.loads((workdir / "metrics/ingest.json").read_text())["comments"]["lines_read"]
        data = {stage: stages[stage] for stage in DATA_STAGES}
        return {"scale": scale, "synthetic": True, "comment_lines": rows, "replica_files": replicas,
                "replicas_made_s": round(made, 1), "placeholder_cache": filled, "stages": stages,
                "data_stages_s": round(sum(s["seconds"] for s in data.values()), 1),
                "data_stages_peak_rss_gb": max(s["peak_rss_gb"] for s in data.values())}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5, 25])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared/data/reddit-college")
    parser.add_argument("--subreddits", nargs="+", help="only these subreddits' files (a quick look)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: the system's temp)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/scale.json")
    parser.add_argument("--no-embed", dest="embed", action="store_false", help="the data stages only")
    parser.add_argument("--encode-first", action="store_true",
                        help="encode the first scale's texts for real (hours on 2 CPU cores) instead of placeholders")
    args = parser.parse_args()
    args.workdir = Path(args.workdir or tempfile.gettempdir())
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.embedding_cache = Path(tempfile.mkdtemp(prefix="scale-embedding-cache-", dir=args.workdir))
    try:
        results = [bench_scale(scale, args, new_day=scale == max(args.scales)) for scale in args.scales]
    finally:
        shutil.rmtree(args.embedding_cache, ignore_errors=True)
    base = next((r for r in results if r["scale"] == 1), None)
    for result in results:  # the growth target: k times the corpus within 1.3 x k times the 1x time
        if base:
            result["time_vs_linear"] = round(result["data_stages_s"] / (result["scale"] * base["data_stages_s"]), 2)
    args.out.write_text(json.dumps({
        "synthetic": "replicas of the corpus's threads under new ids: time and memory only, never quality",
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "load_at_start": os.getloadavg()[0]},
        "subreddits": args.subreddits or "all", "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
