"""ablation: which feature groups help on unseen threads, for every trained family that reads metadata.

For the family's hpo configuration, the thread-CV ROC-AUC (fold mean) and the within-thread ROC-AUC of
its out-of-fold scores with all its inputs, then with each group removed: the text embedding, and each
metadata group of reception.features.FEATURE_GROUPS. A group earns its place only if removing it lowers
the scores; that is how the kept features were chosen, and this stage re-checks it at every run.
Raw scores: the per-fold calibration is monotone, so neither AUC depends on it.
Writes metrics/ablation.json; evaluate adds it to metrics/comparison.md.
"""
from __future__ import annotations

import json

import numpy as np

from reception.evaluation import fold_roc_auc, within_thread_roc_auc
from reception.families import build, declared, feature_matrix, fit_quietly
from reception.features import FEATURE_GROUPS, METADATA_FEATURES
from reception.io import load_params, read_train_val_folds, train_val_embeddings, write_json
from reception.paths import ABLATION_METRICS, best_params_file


def scores_without(family: str, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                   folds: np.ndarray, threads: np.ndarray, removed: str | None) -> dict:
    """Fold-mean and within-thread ROC-AUC of out-of-fold scores with the group `removed` (None: all)."""
    if removed == "text_embedding":
        config = {**config, "embedding_components": 0}
    elif removed is not None:
        dropped = [embedding_dim + METADATA_FEATURES.index(f) for f in FEATURE_GROUPS[removed]]
        X = np.delete(X, dropped, axis=1)
    oof = np.empty(len(y), dtype="float64")
    for fold in np.unique(folds):
        held = folds == fold
        oof[held] = fit_quietly(build(family, config, seed, embedding_dim), X[~held], y[~held]).predict_proba(
            X[held])[:, 1]
    return {"thread_cv_roc_auc": round(fold_roc_auc(y, oof, folds), 4),
            "within_thread_roc_auc": round(within_thread_roc_auc(y, oof, threads)["mean"], 4)}


def main() -> None:
    seed = load_params("ablation")["base"]["seed"]
    frame, embeddings = read_train_val_folds(), train_val_embeddings()
    y, folds, threads = frame["sentiment"].to_numpy(), frame["fold"].to_numpy(), frame["post_id"].to_numpy()
    report = {}
    for name, family in declared().items():
        if family.kind != "trained" or not family.uses_metadata:
            continue
        config = json.loads(best_params_file(name).read_text())
        X = feature_matrix(True, embeddings, frame)
        run = {"config": config, "all_inputs": scores_without(name, config, seed, X, embeddings.shape[1], y, folds,
                                                               threads, None), "without": {}}
        for group in ("text_embedding", *FEATURE_GROUPS):
            if group == "text_embedding" and not config.get("embedding_components"):
                run["without"][group] = {"note": "the configuration already leaves the embedding out"}
                continue
            scores = scores_without(name, config, seed, X, embeddings.shape[1], y, folds, threads, group)
            run["without"][group] = {**scores, **{f"change_{k}": round(v - run["all_inputs"][k], 4)
                                                  for k, v in scores.items()}}
            print(f"ablation {name} without {group}: {json.dumps(run['without'][group])}")
        report[name] = run
    write_json(ABLATION_METRICS, report)


if __name__ == "__main__":
    main()
