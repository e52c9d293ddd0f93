"""hpo: Hyperopt TPE over each trained family's space, on the cached embeddings (nothing is re-encoded).

The objective of each family is a param (hpo.objective):
  val_f1              F1 on val (the seed's protocol, kept for mlp_transformer)
  thread_cv_roc_auc   mean ROC-AUC over the thread folds inside train: threads the fit has not seen,
                      which is what scoring a new thread asks of a model; val stays out of the search
Seeded (rstate), so the same params reproduce the same best configuration.
MLflow: one parent run per family, one nested run per trial with its params and metrics.
Writes models/<family>/best_params.json and metrics/hpo.json (timings go to MLflow only).
"""
from __future__ import annotations

import json
import time
from math import log
from pathlib import Path

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, space_eval, tpe

from reception import tracking
from reception.evaluation import classification_metrics, fold_roc_auc, thread_cv_scores
from reception.families import build, feature_matrix, fit_quietly
from reception.io import load_params, read_split, read_train_val_folds, train_val_embeddings, write_json

MODELS_DIR, METRICS_FILE = Path("models"), Path("metrics/hpo.json")
SPACES = {
    "mlp_transformer": {
        "hidden_layer_sizes": hp.choice("hidden_layer_sizes", [(128,), (256,), (512,)]),
        "alpha": hp.loguniform("alpha", log(1e-5), log(1e-1)),
        "learning_rate_init": hp.loguniform("learning_rate_init", log(1e-4), log(5e-3)),
        "batch_size": hp.choice("batch_size", [64, 128, 256]),
        "max_iter": hp.choice("max_iter", [5, 10, 20]),
    },
    "hybrid": {
        "embedding_components": hp.choice("embedding_components", [4, 8, 16, 32, 64]),
        "classifier": hp.choice("classifier", [
            {"kind": "logreg", "C": hp.loguniform("C", log(1e-3), log(10.0))},
            {"kind": "hist_gradient_boosting", "learning_rate": hp.loguniform("learning_rate", log(0.01), log(0.3)),
             "max_depth": hp.choice("max_depth", [2, 3, 4]), "max_iter": hp.choice("gb_max_iter", [50, 100, 200])},
        ]),
    },
}


def search(family: str, objective_name: str, data: tuple, max_evals: int, seed: int, mlflow) -> dict:
    """`data`: train+val rows with their folds, their embeddings, and which rows are train."""
    frame, embeddings, is_train = data
    X_all, y_all = feature_matrix(family, embeddings, frame), frame["sentiment"].to_numpy()
    X, y, train = X_all[is_train], y_all[is_train], frame[is_train].reset_index(drop=True)

    def objective(config: dict) -> dict:
        def model():
            return build(family, config, seed, embeddings.shape[1])

        with mlflow.start_run(run_name=f"{family}_hpo_trial", nested=True):
            if objective_name == "val_f1":
                fitted = fit_quietly(model(), X, y)
                scores = {f"val_{k}": v for k, v in classification_metrics(
                    y_all[~is_train], fitted.predict_proba(X_all[~is_train])[:, 1]).items()}
            else:
                oof = thread_cv_scores(train, lambda fit, held: fit_quietly(model(), X[fit], y[fit]).predict_proba(
                    X[held])[:, 1])
                labels = train.set_index("comment_id").loc[oof["comment_id"], "sentiment"].to_numpy()
                scores = {"thread_cv_roc_auc": fold_roc_auc(labels, oof["score"].to_numpy(), oof["fold"].to_numpy())}
            mlflow.log_params({"config": json.dumps(config)})
            mlflow.log_metrics(scores)
        return {"loss": -scores[objective_name], "status": STATUS_OK, "scores": scores}

    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{family}_hpo", tags=tracking.run_tags()) as parent:
        mlflow.log_params({"family": family, "objective": objective_name, "max_evals": max_evals, "seed": seed,
                           "algo": "tpe", "train_rows": int(is_train.sum())})
        trials = Trials()
        best_point = fmin(objective, SPACES[family], algo=tpe.suggest, max_evals=max_evals, trials=trials,
                          rstate=np.random.default_rng(seed), show_progressbar=False)
        best = json.loads(json.dumps(space_eval(SPACES[family], best_point)))  # tuples -> lists
        best_score = trials.best_trial["result"]["scores"][objective_name]
        seconds = time.perf_counter() - started
        write_json(MODELS_DIR / family / "best_params.json", best)
        mlflow.log_params({"best_config": json.dumps(best)})
        mlflow.log_metrics({f"best_{objective_name}": best_score, "hpo_seconds": seconds})
        mlflow.log_artifact(str(MODELS_DIR / family / "best_params.json"))
        print(f"hpo {family}: {len(trials.trials)} trials in {seconds:.1f} s, best {objective_name} "
              f"{best_score:.4f} with {json.dumps(best)}; MLflow run {parent.info.run_id}")
    return {"objective": objective_name, f"best_{objective_name}": best_score, "trials": len(trials.trials)}


def main() -> None:
    params = load_params("hpo")
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    frame = read_train_val_folds()
    is_train = np.arange(len(frame)) < len(read_split("train", ["comment_id"]))  # train rows come first
    data = (frame, train_val_embeddings(), is_train)
    report = {family: search(family, objective, data, params["max_evals"], params["base"]["seed"], mlflow)
              for family, objective in params["objective"].items()}
    write_json(METRICS_FILE, report)


if __name__ == "__main__":
    main()
