"""ablation: which feature groups help on unseen threads, for every trained family that reads metadata.

For the family's hpo configuration, the thread-CV ROC-AUC (fold mean, the deciding metric) and the
within-thread ROC-AUC of its out-of-fold scores with its inputs (the kept groups of
reception.data.features.FEATURE_GROUPS and the text embedding when the configuration reads it), then with each
kept group removed, and with each candidate group (reception.data.features.CANDIDATE_GROUPS) added. The rule:
a group stays only if removing it lowers the thread-CV fold mean, and a candidate joins only if adding it
raises it; `supported` says, per group, whether this run agrees with the code's choice, and
`unsupported_kept` / `supported_candidates` list the disagreements (empty when the choice holds).
Raw scores: the per-fold calibration is monotone, so neither AUC depends on it.
Writes metrics/ablation.json; evaluate adds it to metrics/comparison.md.
"""
from __future__ import annotations

import json

import numpy as np

from reception.data.features import (
    ALL_FEATURES,
    CANDIDATE_GROUPS,
    FEATURE_GROUPS,
    METADATA_FEATURES,
    ablation_variants,
    feature_columns,
    supported,
)
from reception.data.splits import read_train_val_folds, train_val_embeddings
from reception.models.evaluation import fold_roc_auc, within_thread_roc_auc
from reception.models.families import build, declared, feature_matrix, fit_quietly
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import ABLATION_METRICS, best_params_file


def scores_with(family: str, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                folds: np.ndarray, threads: np.ndarray, features: tuple[str, ...], embedding: bool = True) -> dict:
    """Fold-mean and within-thread ROC-AUC of out-of-fold scores reading the metadata `features` (and the
    embedding when `embedding` and the configuration reads it)."""
    if not embedding:
        config = {**config, "embedding_components": 0}
    X = X[:, feature_columns(features, embedding_dim)]
    oof = np.empty(len(y), dtype="float64")
    for fold in np.unique(folds):
        held = folds == fold
        oof[held] = fit_quietly(build(family, config, seed, embedding_dim), X[~held], y[~held]).predict_proba(
            X[held])[:, 1]
    return {"thread_cv_roc_auc": round(fold_roc_auc(y, oof, folds), 4),
            "within_thread_roc_auc": round(within_thread_roc_auc(y, oof, threads)["mean"], 4)}


def with_change(scores: dict, reference: dict) -> dict:
    return {**scores, **{f"change_{k}": round(v - reference[k], 4) for k, v in scores.items()}}


def main() -> None:
    seed = load_params("ablation")["base"]["seed"]
    frame, embeddings = read_train_val_folds(), train_val_embeddings()
    y, folds, threads = frame["well_received"].to_numpy(), frame["fold"].to_numpy(), frame["post_id"].to_numpy()
    dim = embeddings.shape[1]
    report = {}
    for name, family in declared().items():
        if family.kind != "trained" or not family.uses_metadata:
            continue
        config = json.loads(best_params_file(name).read_text())
        X = feature_matrix(True, embeddings, frame, ALL_FEATURES)

        def scores(features, embedding=True, name=name, config=config, X=X):
            return scores_with(name, config, seed, X, dim, y, folds, threads, features, embedding)

        reference = scores(METADATA_FEATURES)
        run = {"config": config, "all_inputs": reference, "without": {}, "with_candidate": {}}
        if config.get("embedding_components"):
            run["without"]["text_embedding"] = with_change(scores(METADATA_FEATURES, embedding=False), reference)
        else:
            run["without"]["text_embedding"] = {"note": "the configuration already leaves the embedding out"}
        for variant, group, features in ablation_variants():
            changed = with_change(scores(features), reference)
            run[variant][group] = {**changed, "supported": supported(variant, changed["change_thread_cv_roc_auc"])}
            print(f"ablation {name} {variant.replace('_', ' ')} {group}: {json.dumps(run[variant][group])}")
        run["unsupported_kept"] = [g for g in FEATURE_GROUPS if not run["without"][g]["supported"]]
        run["supported_candidates"] = [g for g in CANDIDATE_GROUPS if run["with_candidate"][g]["supported"]]
        report[name] = run
    write_json(ABLATION_METRICS, report)


if __name__ == "__main__":
    main()
