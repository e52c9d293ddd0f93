"""embed: encode clean_text of each split once; every later stage reads these arrays.

Writes data/embeddings/{train,val,test}.npy (float32, one row per split row, in split order) and
metadata.json (model, weights sha256, dimension, rows, batch size, device). Progress: the texts encoded,
their rate and an ETA on stderr, per split.

When no declared family reads the embedding (params.yaml families, `reads`), nothing is encoded (390k
texts take half an hour on 2 cores): each split's array has its rows and no column, and metadata.json says
why (`not_encoded`, dimension 0). The stage does not re-run when only the families change (their settings
change often, and an encoding costs that half hour): a family that reads the embedding and finds none
stops hpo with the command that encodes (reception.models.hpo).
"""
from __future__ import annotations

import time

import numpy as np

from reception.data.splits import SPLITS, read_split
from reception.models.encoder import encode, load_encoder, resolve_device, resolve_model_dir
from reception.models.families import declared
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import EMBEDDINGS_DIR, EMBEDDINGS_METADATA, embeddings_file

NOT_ENCODED = "no declared family reads the embedding (params.yaml families, reads)"


def main() -> None:
    params, encoder_params = load_params("embed"), load_params("encoder")
    settings = {"model": encoder_params["model"], "weights_sha256": encoder_params["sha256"]}
    if not any(family.uses_embedding for family in declared().values()):
        fresh_dir(EMBEDDINGS_DIR)
        rows = {split: len(read_split(split, ["comment_id"])) for split in SPLITS}
        for split, count in rows.items():
            np.save(embeddings_file(split), np.zeros((count, 0), dtype="float32"))
        write_json(EMBEDDINGS_METADATA, {**settings, "dimension": 0, "rows": rows, "batch_size": params["batch_size"],
                                         "device": None, "not_encoded": NOT_ENCODED})
        print(f"embed: nothing encoded, {NOT_ENCODED}: {sum(rows.values())} rows of width 0")
        return
    device = resolve_device(params["device"])
    encoder = load_encoder(resolve_model_dir(encoder_params["model"]), encoder_params["sha256"], device)
    fresh_dir(EMBEDDINGS_DIR)
    rows, started = {}, time.perf_counter()
    for split in SPLITS:
        texts = read_split(split, ["clean_text"])["clean_text"].tolist()
        print(f"embed {split}: {len(texts)} texts on {device}")
        vectors = encode(encoder, texts, params["batch_size"], progress=f"embed {split}")
        np.save(embeddings_file(split), vectors)
        rows[split] = len(vectors)
    seconds = time.perf_counter() - started
    write_json(EMBEDDINGS_METADATA, {
        **settings,
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
