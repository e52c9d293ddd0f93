"""The hpo stage's search: Hyperopt TPE over one trained family's declared space, on the cached embeddings.

The family's declaration gives its search space and its objective:
  val_f1              F1 on val (IMEDIA's protocol, kept for mlp_transformer)
  thread_cv_roc_auc   mean ROC-AUC over the thread folds inside train: threads the fit has not seen,
                      which is what scoring a new thread asks of a model; val stays out of the search
Seeded (rstate), so the same params reproduce the same best configuration. Timings go to MLflow only.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from reception.models import tracking
from reception.models.evaluation import classification_metrics
from reception.models.families import Family, build, feature_matrix, fit_quietly
from reception.models.search import thread_cv_roc_auc, tpe_search
from reception.outputs import write_json


def search_family(family: Family, data: tuple, max_evals: int, seed: int, mlflow, best_file: Path) -> dict:
    """TPE over the family's declared space for its objective, logged to MLflow (one parent run, a nested run
    per trial); writes the best configuration to `best_file` and returns the search's report. `family`: its
    declaration; `data`: train+val rows with their folds, their embeddings, and which rows are train."""
    frame, embeddings, is_train = data
    if family.uses_embedding and embeddings.shape[1] == 0:
        raise SystemExit(f"hpo {family.name}: the family reads the embedding, but data/embeddings holds none: embed "
                         "ran when no declared family read it, and a change of the families alone does not re-run "
                         "it. Encode, then go on: dvc repro --force --single-item embed && dvc repro")
    embeddings = family.embedding_of(embeddings)
    objective_name = family.settings["objective"]
    X_all, y_all = feature_matrix(family.uses_metadata, embeddings, frame), frame["well_received"].to_numpy()
    X, y, train = X_all[is_train], y_all[is_train], frame[is_train].reset_index(drop=True)

    def score(config: dict) -> dict:
        def model():
            return build(family.name, config, seed, embeddings.shape[1])

        with mlflow.start_run(run_name=f"{family.name}_hpo_trial", nested=True):
            if objective_name == "val_f1":
                fitted = fit_quietly(model(), X, y)
                scores = {f"val_{k}": v for k, v in classification_metrics(
                    y_all[~is_train], fitted.predict_proba(X_all[~is_train])[:, 1]).items()}
            else:
                scores = {"thread_cv_roc_auc": thread_cv_roc_auc(model, X, y, train["fold"].to_numpy())}
            mlflow.log_params({"config": json.dumps(config)})
            mlflow.log_metrics(scores)
        return scores

    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{family.name}_hpo", tags=tracking.run_tags()) as parent:
        mlflow.log_params({"family": family.name, "objective": objective_name, "max_evals": max_evals, "seed": seed,
                           "algo": "tpe", "train_rows": int(is_train.sum())})
        best, best_scores, trials = tpe_search(family.settings["space"], score, objective_name, max_evals, seed,
                                               progress=f"hpo {family.name}")
        best_score = best_scores[objective_name]
        seconds = time.perf_counter() - started
        write_json(best_file, best)
        mlflow.log_params({"best_config": json.dumps(best)})
        mlflow.log_metrics({f"best_{objective_name}": best_score, "hpo_seconds": seconds})
        mlflow.log_artifact(str(best_file))
        print(f"hpo {family.name}: {len(trials.trials)} trials in {seconds:.1f} s, best {objective_name} "
              f"{best_score:.4f} with {json.dumps(best)}; MLflow run {parent.info.run_id}")
    return {"objective": objective_name, f"best_{objective_name}": best_score, "trials": len(trials.trials)}
