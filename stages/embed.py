"""embed: the vector of each split's clean_text, every distinct text encoded once across runs.

Writes data/embeddings/{train,val,test}.npy (float32, one row per split row, in split order) and
metadata.json (model, weights sha256, dimension, rows, batch size, device). The vectors come from the
embedding cache in data/embedding_cache (reception.models.embedding_cache): only the distinct texts it
lacks for this encoder, device kind and precision are encoded, and added to it. What was encoded and
reused goes to stdout, not into metadata.json: it depends on what earlier runs left in the cache, and
metadata.json is hashed into dvc.lock, which must not differ between a fresh and an incremental run.
Progress: the texts encoded, their rate and an ETA on stderr.

With DASK_SCHEDULER_ADDRESS set (reception.data.dask_runtime) the missing texts are encoded by the
cluster's workers, on a GPU when a worker advertises one (`embed.device: auto`); without it, here.

When no declared family reads the embedding (params.yaml families, `reads`), nothing is encoded (the
corpus's 360k distinct texts take about 50 minutes on 2 cores): each split's array has its rows and no column, and
metadata.json says why (`not_encoded`, dimension 0). The stage does not re-run when only the families change
(their settings change often, and an encoding costs those minutes): a family that reads the embedding and finds none
stops hpo with the command that encodes (reception.models.hpo).
"""
from __future__ import annotations

import time

import numpy as np

from reception.data.dask_runtime import LOCAL_SCHEDULER, dask_scheduler
from reception.data.splits import SPLITS, split_length, stream_split_column
from reception.models.embedding_cache import embed_texts
from reception.models.families import declared
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import EMBEDDING_CACHE_DIR, EMBEDDINGS_DIR, EMBEDDINGS_METADATA, embeddings_file

NOT_ENCODED = "no declared family reads the embedding (params.yaml families, reads)"


def write_rows(path, vectors: np.ndarray, row: np.ndarray, chunk_rows: int = 100_000) -> None:
    """An .npy file of vectors[row] (the same bytes as np.save), written `chunk_rows` rows at a time: a split of
    ten million rows is 15 GB of float32, never held whole. Plain writes, not a memory map: the pages of a
    written map count in the process's RSS until the kernel writes them back (11 GB at 9.4M rows)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("float32")), "fortran_order": False,
              "shape": (len(row), vectors.shape[1])}
    with open(path, "wb") as out:
        np.lib.format.write_array_header_1_0(out, header)
        for start in range(0, len(row), chunk_rows):
            out.write(np.ascontiguousarray(vectors[row[start:start + chunk_rows]], dtype="float32").tobytes())


def main() -> None:
    params, encoder_params = load_params("embed"), load_params("encoder")
    settings = {"model": encoder_params["model"], "weights_sha256": encoder_params["sha256"]}
    EMBEDDING_CACHE_DIR.mkdir(parents=True, exist_ok=True)  # a DVC output even when nothing is encoded
    rows = {split: split_length(split) for split in SPLITS}
    if not any(family.uses_embedding for family in declared().values()):
        fresh_dir(EMBEDDINGS_DIR)
        for split, count in rows.items():
            np.save(embeddings_file(split), np.zeros((count, 0), dtype="float32"))
        write_json(EMBEDDINGS_METADATA, {**settings, "dimension": 0, "rows": rows, "batch_size": params["batch_size"],
                                         "device": None, "not_encoded": NOT_ENCODED})
        print(f"embed: nothing encoded, {NOT_ENCODED}: {sum(rows.values())} rows of width 0")
        return
    # A stream: only the distinct texts are held, not one string per row (ten million rows are gigabytes).
    every_text = (text for split in SPLITS for text in stream_split_column(split, "clean_text"))
    started = time.perf_counter()
    with dask_scheduler("embed") as where:
        client = None
        if where != LOCAL_SCHEDULER:
            from distributed import default_client

            client = default_client()
        embedded = embed_texts(every_text, EMBEDDING_CACHE_DIR, encoder_params["model"], encoder_params["sha256"],
                               params["device"], params["batch_size"], client, params.get("torch_threads"))
    fresh_dir(EMBEDDINGS_DIR)
    start = 0
    for split in SPLITS:
        write_rows(embeddings_file(split), embedded.vectors, embedded.row[start:start + rows[split]])
        start += rows[split]
    write_json(EMBEDDINGS_METADATA, {**settings, "dimension": int(embedded.vectors.shape[1]), "rows": rows,
                                     "batch_size": params["batch_size"], "device": embedded.device})
    # Printed, not written: the timing changes run to run and the counts depend on the cache's history.
    seconds = time.perf_counter() - started
    run = embedded.run
    print(f"embed: {run.summary()} in {EMBEDDING_CACHE_DIR}")
    print(f"embed: {sum(rows.values()):,} rows in {seconds:.1f} s on {embedded.device}"
          + (f" ({run.encoded / seconds:.0f} texts encoded/s)" if run.encoded else ""))


if __name__ == "__main__":
    main()
