"""hpo: Hyperopt TPE over one trained family's space (reception.models.hpo), on the cached embeddings.

Usage: python stages/hpo.py FAMILY (one `hpo@FAMILY` stage per entry of params.yaml families.train).
MLflow: one parent run, one nested run per trial with its params and metrics.
Writes models/train/<family>/best_params.json and metrics/hpo/<family>.json.
"""
from __future__ import annotations

import sys

import numpy as np

from reception.data.splits import read_split, read_train_val_folds, train_val_embeddings
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
    frame = read_train_val_folds()
    is_train = np.arange(len(frame)) < len(read_split("train", ["comment_id"]))  # train rows come first
    data = (frame, train_val_embeddings(), is_train)
    report = search_family(family, data, params["max_evals"], params["base"]["seed"], mlflow,
                           best_params_file(family.name))
    write_json(HPO_METRICS_DIR / f"{family.name}.json", report)


if __name__ == "__main__":
    main()
