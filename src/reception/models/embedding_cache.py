"""The embedding cache: each text encoded once per encoder, device kind and precision, across runs.

A vector is stored under a key, the sha256 of its producer (the encoder weights' sha256, the device kind
and the precision that computed it, e.g. ".../cpu/float32") and the cleaned text; the text itself is
never stored. A key names its text only to someone who already holds the text (hashing a guessed text
gives its key), which is why `reception prune` removes the vectors of comments that left the data.

The cache is a folder of immutable shards, each a Parquet file of (key: 32 bytes, vector: float32) rows
sorted by key, from one producer (in the file's metadata), named by the sha256 of that content. A run
adds the vectors it computed as new shards of at most SHARD_ROWS rows and never rewrites one; pruning
replaces a shard that lost rows by a new one under its new content name. So the folder, a DVC output,
changes only by whole new files: DVC's directory hash keeps every old shard's entry and `dvc push` sends
only the new ones.

Encoding the missing texts happens in this process, or as Dask tasks over chunks of texts on the cluster
that reception.data.dask_runtime connects to (encode_on_cluster): one encoder per worker process, on a
worker that advertises a `GPU` resource when the cluster has one.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reception.models.encoder import (
    PRECISION,
    device_kind,
    encode,
    encoder_signature,
    limit_torch_threads,
    load_encoder,
    resolve_device,
    resolve_model_dir,
)
from reception.progress import Progress

KEY_BYTES = 32
# Versioned so that a change of the key's recipe can never match an older key.
KEY_DOMAIN = b"reception embedding cache v1\0"
PRODUCER_METADATA = b"reception.producer"
# 50,000 rows of 384 float32 are 77 MB: a shard stays one ordinary upload, and a huge first run (390k
# texts) becomes 8 shards rather than one file that a prune would have to rewrite whole.
SHARD_ROWS = 50_000
SHARD_SUFFIX = ".parquet"
# Texts per Dask task: enough for full batches on a GPU, small enough that 2 workers share 390k texts evenly.
CLUSTER_CHUNK_TEXTS = 2_048


def producer(weights_sha256: str, device: str, precision: str) -> str:
    """Who computes a vector, as the key records it: weights, device kind ("cuda:1" counts as "cuda"), precision."""
    return f"{weights_sha256}/{device_kind(device)}/{precision}"


def text_key(producer_id: str, text: str) -> bytes:
    return hashlib.sha256(KEY_DOMAIN + producer_id.encode() + b"\0" + text.encode("utf-8")).digest()


def shard_paths(cache_dir: Path) -> list[Path]:
    """Every shard of the cache, in name order; none when the folder does not exist yet."""
    return sorted(Path(cache_dir).glob(f"*{SHARD_SUFFIX}")) if Path(cache_dir).is_dir() else []


def shard_producer(path: Path) -> str:
    return pq.read_schema(path).metadata[PRODUCER_METADATA].decode()


def read_keys(path: Path) -> list[bytes]:
    return pq.read_table(path, columns=["key"]).column("key").to_pylist()


def read_vectors(path: Path) -> np.ndarray:
    column = pq.read_table(path, columns=["vector"]).column("vector").combine_chunks()
    return column.flatten().to_numpy().reshape(len(column), column.type.list_size)


def write_shards(cache_dir: Path, producer_id: str, keys: Sequence[bytes], vectors: np.ndarray,
                 shard_rows: int = SHARD_ROWS) -> list[Path]:
    """The rows as new shards of at most `shard_rows` rows, sorted by key, each named by its content."""
    if len(keys) != len(vectors):
        raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [write_shard(cache_dir, producer_id, [keys[i] for i in rows], vectors[rows])
            for rows in (order[start:start + shard_rows] for start in range(0, len(order), shard_rows))]


def write_shard(cache_dir: Path, producer_id: str, keys: list[bytes], vectors: np.ndarray) -> Path:
    vectors = np.ascontiguousarray(vectors, dtype="float32")
    digest = hashlib.sha256(producer_id.encode() + b"\0")
    digest.update(b"".join(keys))
    digest.update(vectors.tobytes())
    path = Path(cache_dir) / f"{digest.hexdigest()}{SHARD_SUFFIX}"
    if path.exists():  # the same content is already there under its name
        return path
    table = pa.table({
        "key": pa.array(keys, type=pa.binary(KEY_BYTES)),
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1]),
    }).replace_schema_metadata({PRODUCER_METADATA: producer_id.encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        # Random hashes and float mantissas hardly compress: stored as they are, read without decoding.
        pq.write_table(table, partial, compression="none")
        os.replace(partial, path)  # a shard appears whole or not at all
    finally:
        partial.unlink(missing_ok=True)
    return path


@dataclass
class CacheRun:
    """What vectors_for did: texts asked for, distinct texts, vectors reused and encoded, shards."""
    texts: int
    unique: int
    reused: int
    encoded: int
    new_shards: list[Path] = field(default_factory=list)
    shards: int = 0

    def summary(self) -> str:
        return (f"encoded {self.encoded:,} new, reused {self.reused:,} ({self.unique:,} distinct texts in "
                f"{self.texts:,} rows); cache: {self.shards} shards, {len(self.new_shards)} new")


def vectors_for(texts: Iterable[str], cache_dir: Path, producer_id: str,
                encode_missing: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, np.ndarray, CacheRun]:
    """(vectors, row, run): the i-th text's vector is vectors[row[i]], one row per distinct text.

    `texts` may be a stream: only the distinct texts are held, and a row number (8 bytes) per text.
    The vectors the cache holds for this producer are read; the distinct texts it lacks go to
    `encode_missing` in one call (in order of first appearance) and are added as new shards.
    """
    first: dict[str, int] = {}
    row = np.fromiter((first.setdefault(text, len(first)) for text in texts), dtype=np.int64)
    unique = list(first)
    keys = [text_key(producer_id, text) for text in unique]
    position = {key: i for i, key in enumerate(keys)}
    found = np.zeros(len(unique), dtype=bool)
    pieces: list[tuple[np.ndarray, np.ndarray]] = []
    for path in shard_paths(cache_dir):
        if shard_producer(path) != producer_id:
            continue
        hits = [(i, position[key]) for i, key in enumerate(read_keys(path)) if key in position]
        hits = [(i, at) for i, at in hits if not found[at]]
        if hits:
            rows, at = (np.array(part, dtype=np.int64) for part in zip(*hits, strict=True))
            found[at] = True
            pieces.append((at, read_vectors(path)[rows]))
    missing = np.flatnonzero(~found)
    run = CacheRun(texts=len(row), unique=len(unique), reused=int(found.sum()), encoded=len(missing))
    if len(missing):
        encoded = np.asarray(encode_missing([unique[i] for i in missing]), dtype="float32")
        if encoded.shape[0] != len(missing):
            raise RuntimeError(f"the encoder returned {encoded.shape[0]} vectors for {len(missing)} texts")
        run.new_shards = write_shards(cache_dir, producer_id, [keys[i] for i in missing], encoded)
        pieces.append((missing, encoded))
    run.shards = len(shard_paths(cache_dir))
    dimension = pieces[0][1].shape[1] if pieces else 0
    vectors = np.empty((len(unique), dimension), dtype="float32")
    for at, part in pieces:
        vectors[at] = part
    return vectors, row, run


def producers(cache_dir: Path) -> set[str]:
    return {shard_producer(path) for path in shard_paths(cache_dir)}


def live_keys(cache_dir: Path, texts: Iterable[str]) -> set[bytes]:
    """The keys of `texts` under every producer that has vectors in the cache."""
    texts = set(texts)
    return {text_key(producer_id, text) for producer_id in producers(cache_dir) for text in texts}


@dataclass
class PruneRun:
    removed: int = 0  # vectors whose key is in no live set
    kept: int = 0
    rewritten: list[tuple[Path, Path | None]] = field(default_factory=list)  # (old shard, its successor or None)


def prune_cache(cache_dir: Path, live: set[bytes], dry_run: bool = False) -> PruneRun:
    """Remove the vectors whose key is not in `live`; a shard that loses rows is replaced by one holding
    the rest (under its new content name) or deleted when nothing is left. Untouched shards stay as they are."""
    run = PruneRun()
    for path in shard_paths(cache_dir):
        keys = read_keys(path)
        keep = [i for i, key in enumerate(keys) if key in live]
        run.kept += len(keep)
        if len(keep) == len(keys):
            continue
        run.removed += len(keys) - len(keep)
        successor = None
        if not dry_run:
            if keep:
                successor = write_shard(cache_dir, shard_producer(path), [keys[i] for i in keep],
                                        read_vectors(path)[keep])
            path.unlink()  # after its successor exists: an interrupted prune loses nothing that lives
        run.rewritten.append((path, successor))
    return run


# On a Dask cluster.

_worker_encoders: dict[tuple[str, str, str], object] = {}
_worker_encoders_lock = threading.Lock()


def worker_encoder(model: str, weights_sha256: str, device: str):
    """The encoder of this process, loaded by its first task and kept for the next ones (a worker's
    threads share it: one model in memory per worker process)."""
    with _worker_encoders_lock:
        key = (model, weights_sha256, device)
        if key not in _worker_encoders:
            _worker_encoders[key] = load_encoder(resolve_model_dir(model), weights_sha256, device)
        return _worker_encoders[key]


def encode_chunk(texts: list[str], model: str, weights_sha256: str, device: str,
                 batch_size: int, torch_threads: int | None = None) -> tuple[str, np.ndarray]:
    """A Dask task: the producer that computed the vectors, and the vectors of `texts`."""
    limit_torch_threads(torch_threads)
    encoder = worker_encoder(model, weights_sha256, device)
    return producer(weights_sha256, *encoder_signature(encoder)), encode(encoder, texts, batch_size)


def cluster_gpus(client) -> int:
    """How many `GPU` resources the cluster's workers advertise (`dask worker --resources GPU=1`)."""
    return sum(int(worker.get("resources", {}).get("GPU", 0))
               for worker in client.scheduler_info(n_workers=-1).get("workers", {}).values())


def cluster_device(gpus: int, device: str) -> tuple[str, dict[str, int] | None]:
    """The device the workers encode on and the resources each task asks for, on a cluster that advertises
    `gpus` GPU resources: `auto` is CUDA when it has one, else CPU; a CUDA task asks for one GPU when there
    is one to ask for (without, any worker takes it and must have CUDA itself)."""
    if device == "auto":
        device = "cuda" if gpus else "cpu"
    return device, ({"GPU": 1} if gpus and device_kind(device) == "cuda" else None)


def encode_on_cluster(client, texts: list[str], model: str, weights_sha256: str, device: str, batch_size: int,
                      expected_producer: str, resources: dict[str, int] | None = None,
                      chunk_texts: int = CLUSTER_CHUNK_TEXTS, progress: str | None = None,
                      torch_threads: int | None = None) -> np.ndarray:
    """The texts' vectors, computed by the cluster's workers in chunks of `chunk_texts`, in the texts' order.
    Raises when a worker computed them as another producer than `expected_producer` (another device kind or
    precision), whose vectors would be stored under keys that do not describe them."""
    from distributed import as_completed

    chunks = [texts[start:start + chunk_texts] for start in range(0, len(texts), chunk_texts)]
    # Bound with partial: client.map takes keywords of its own (batch_size among them).
    task = partial(encode_chunk, model=model, weights_sha256=weights_sha256, device=device, batch_size=batch_size,
                   torch_threads=torch_threads)
    futures = client.map(task, chunks, resources=resources, pure=False)
    if progress:
        counter = Progress(progress, len(texts), "texts")
        sizes = {future.key: len(chunk) for future, chunk in zip(futures, chunks, strict=True)}
        for future in as_completed(futures):
            counter.advance(sizes[future.key])
    results = client.gather(futures)
    for produced, _ in results:
        if produced != expected_producer:
            raise RuntimeError(f"a worker encoded as {produced}, expected {expected_producer}")
    return np.concatenate([vectors for _, vectors in results]) if results else np.zeros((0, 0), "float32")


@dataclass
class Embedded:
    """embed_texts' answer: the i-th text's vector is vectors[row[i]]; the device they were computed on."""
    vectors: np.ndarray
    row: np.ndarray
    run: CacheRun
    device: str


def embed_texts(texts: Iterable[str], cache_dir: Path, model: str, weights_sha256: str, device: str,
                batch_size: int, client=None, torch_threads: int | None = None) -> Embedded:
    """Every text's vector from the cache, the distinct texts it lacks encoded once: in this process, or on the
    Dask cluster of `client` (a distributed.Client). `device` as in params.yaml embed.device (`auto` too);
    `torch_threads` as embed.torch_threads, in this process or in each worker process."""
    if client is None:
        device, resources = resolve_device(device), None
    else:
        device, resources = cluster_device(cluster_gpus(client), device)
    producer_id = producer(weights_sha256, device, PRECISION)

    def encode_missing(missing: list[str]) -> np.ndarray:
        where = "here" if client is None else f"on the cluster's workers (task resources: {resources})"
        print(f"embed: encoding the {len(missing):,} texts the cache lacks on {device}, {where}")
        if client is not None:
            return encode_on_cluster(client, missing, model, weights_sha256, device, batch_size, producer_id,
                                     resources, progress="embed", torch_threads=torch_threads)
        limit_torch_threads(torch_threads)
        encoder = load_encoder(resolve_model_dir(model), weights_sha256, device)
        if producer(weights_sha256, *encoder_signature(encoder)) != producer_id:
            raise RuntimeError(f"the encoder computes on {encoder_signature(encoder)}, expected {producer_id}")
        return encode(encoder, missing, batch_size, progress="embed")

    vectors, row, run = vectors_for(texts, cache_dir, producer_id, encode_missing)
    return Embedded(vectors, row, run, device)
