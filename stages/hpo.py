"""hpo: Hyperopt TPE over the seed's MLP space on the cached embeddings (nothing is re-encoded).

Objective: -val_f1. Seeded (rstate), so the same params reproduce the same best configuration.
MLflow: one parent run, one nested run per trial with its params and val metrics.
Writes models/mlp/best_params.json and metrics/hpo.json (timings go to MLflow: dvc.lock stays reproducible).
"""
from __future__ import annotations

import json
import time
from math import log
from pathlib import Path

import numpy as np
import pandas as pd
from hyperopt import STATUS_OK, Trials, fmin, hp, space_eval, tpe

from reception import tracking
from reception.evaluation import classification_metrics
from reception.io import load_params, write_json
from reception.mlp import build_mlp, fit_quietly

EMBEDDINGS_DIR, PROCESSED_DIR = Path("data/embeddings"), Path("data/processed")
BEST_PARAMS_FILE = Path("models/mlp/best_params.json")
METRICS_FILE = Path("metrics/hpo.json")
SPACE = {
    "hidden_layer_sizes": hp.choice("hidden_layer_sizes", [(128,), (256,), (512,)]),
    "alpha": hp.loguniform("alpha", log(1e-5), log(1e-1)),
    "learning_rate_init": hp.loguniform("learning_rate_init", log(1e-4), log(5e-3)),
    "batch_size": hp.choice("batch_size", [64, 128, 256]),
    "max_iter": hp.choice("max_iter", [5, 10, 20]),
}


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    labels = pd.read_parquet(PROCESSED_DIR / f"sentiment_{split}.parquet", columns=["sentiment"])["sentiment"]
    return np.load(EMBEDDINGS_DIR / f"{split}.npy"), labels.to_numpy()


def main() -> None:
    params = load_params("hpo")
    seed = params["base"]["seed"]
    (X_train, y_train), (X_val, y_val) = load_split("train"), load_split("val")
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])

    def objective(config: dict) -> dict:
        with mlflow.start_run(run_name="mlp_hpo_trial", nested=True):
            model = fit_quietly(build_mlp(**config, seed=seed), X_train, y_train)
            val = classification_metrics(y_val, model.predict_proba(X_val)[:, 1])
            mlflow.log_params(config)
            mlflow.log_metrics({f"val_{k}": v for k, v in val.items()})
        return {"loss": -val["f1"], "status": STATUS_OK, "val": val}

    started = time.perf_counter()
    with mlflow.start_run(run_name="mlp_transformer_embeddings_hpo", tags=tracking.run_tags()) as parent:
        mlflow.log_params({"max_evals": params["max_evals"], "seed": seed, "algo": "tpe",
                           "embedding_rows_train": len(X_train)})
        trials = Trials()
        best_point = fmin(objective, SPACE, algo=tpe.suggest, max_evals=params["max_evals"], trials=trials,
                          rstate=np.random.default_rng(seed), show_progressbar=False)
        best = space_eval(SPACE, best_point)
        best["hidden_layer_sizes"] = list(best["hidden_layer_sizes"])
        best_val = trials.best_trial["result"]["val"]
        seconds = time.perf_counter() - started
        write_json(BEST_PARAMS_FILE, best)
        write_json(METRICS_FILE, {"best_val_f1": best_val["f1"], "best_val_roc_auc": best_val["roc_auc"],
                                  "trials": len(trials.trials)})
        mlflow.log_params({f"best_{k}": v for k, v in best.items()})
        mlflow.log_metrics({"best_val_f1": best_val["f1"], "best_val_roc_auc": best_val["roc_auc"],
                            "hpo_seconds": seconds})
        mlflow.log_artifact(str(BEST_PARAMS_FILE))
        run_id = parent.info.run_id
    print(f"hpo: {len(trials.trials)} trials in {seconds:.1f} s, best val F1 {best_val['f1']:.4f} "
          f"(AUC {best_val['roc_auc']:.4f}) with {json.dumps(best)}; MLflow run {run_id}")


if __name__ == "__main__":
    main()
