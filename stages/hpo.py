"""hpo: Hyperopt TPE over one trained family's space (reception.models.hpo), on the cached embeddings.

The search reads train+val without the text and only the embedding rows it fits on (memory-mapped); a family
declared with `max_rows` searches on that many rows at most, whole threads drawn with base.seed, and its
metrics say so (`rows`).
Usage: python stages/hpo.py FAMILY (one `hpo@FAMILY` stage per entry of params.yaml families.train).
MLflow: one parent run, one nested run per trial with its params and metrics.
Writes models/train/<family>/best_params.json and metrics/hpo/<family>.json.
"""
from __future__ import annotations

import sys

import numpy as np

from reception.data.splits import FIT_COLUMNS, read_train_val_folds, split_length, train_val_embeddings
from reception.models import tracking
from reception.models.families import declared
from reception.models.hpo import search_family
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import HPO_METRICS_DIR, best_params_file


def main() -> None:
    family = declared()[sys.argv[1]]
    params = load_params("hpo")
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    seed = params["base"]["seed"]
    frame = read_train_val_folds(FIT_COLUMNS)
    rows = family.fit_rows(frame["post_id"].to_numpy(), seed)
    is_train = (np.arange(len(frame)) < split_length("train"))[rows]  # train rows come first
    data = (frame.iloc[rows].reset_index(drop=True), train_val_embeddings().rows(rows), is_train)
    report = search_family(family, data, params["max_evals"], seed, mlflow, best_params_file(family.name))
    write_json(HPO_METRICS_DIR / f"{family.name}.json",
               {**report, "rows": family.rows_report(rows, len(frame), seed)})


if __name__ == "__main__":
    main()
