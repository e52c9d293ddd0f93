"""embed: encode clean_text of each split once; every later stage reads these arrays.

Writes data/embeddings/{train,val,test}.npy (float32, one row per split row, in split order) and
metadata.json (model, weights sha256, dimension, rows, batch size, device).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from reception.encoder import encode, load_encoder, resolve_device, resolve_model_dir
from reception.io import fresh_dir, load_params, write_json

PROCESSED_DIR = Path("data/processed")
OUT_DIR = Path("data/embeddings")
SPLITS = ("train", "val", "test")


def main() -> None:
    params = load_params("embed")
    device = resolve_device(params["device"])
    model_dir = resolve_model_dir(params["model"])
    encoder = load_encoder(model_dir, params["sha256"], device)
    out = fresh_dir(OUT_DIR)
    rows, started = {}, time.perf_counter()
    for split in SPLITS:
        texts = pd.read_parquet(PROCESSED_DIR / f"sentiment_{split}.parquet", columns=["clean_text"])
        print(f"embed {split}: {len(texts)} texts on {device}")
        vectors = encode(encoder, texts["clean_text"].tolist(), params["batch_size"], progress=True)
        np.save(out / f"{split}.npy", vectors)
        rows[split] = len(vectors)
    seconds = time.perf_counter() - started
    write_json(out / "metadata.json", {
        "model": params["model"],
        "weights_sha256": params["sha256"],
        "dimension": int(encoder.get_sentence_embedding_dimension()),
        "rows": rows,
        "batch_size": params["batch_size"],
        "device": device,
    })
    # Timing is printed, not written: it changes run to run and would make dvc.lock irreproducible.
    print(f"embed: {sum(rows.values())} texts in {seconds:.1f} s on {device} "
          f"({sum(rows.values()) / seconds:.0f} texts/s)")


if __name__ == "__main__":
    main()
