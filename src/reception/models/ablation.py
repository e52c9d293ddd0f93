"""The ablation's rule: a metadata feature group earns its place on unseen threads.

A kept group (reception.data.features.FEATURE_GROUPS) stays only if removing it lowers the thread-CV ROC-AUC
(fold mean), and a candidate (CANDIDATE_GROUPS) joins only if adding it raises it (`supported`). The train
stage applies the rule inside each outer thread fold to choose a nested family's groups (`choose_groups`);
the ablation stage reports it on every thread for the hpo configuration (`ablation_run`), with the
within-thread ROC-AUC beside it. Raw scores: the per-fold calibration is monotone, so neither AUC depends on it.
"""
from __future__ import annotations

import json

import numpy as np

from reception.data.features import (
    CANDIDATE_GROUPS,
    FEATURE_GROUPS,
    METADATA_FEATURES,
    ablation_variants,
    feature_columns,
    supported,
)
from reception.models.evaluation import fold_roc_auc, out_of_fold_scores, within_thread_roc_auc
from reception.models.families import build, fit_quietly
from reception.models.search import thread_cv_roc_auc
from reception.progress import Progress


def choose_groups(make, X: np.ndarray, embedding_dim: int, y: np.ndarray, folds: np.ndarray) -> list[str]:
    """The feature groups the ablation's rule keeps on these rows' thread folds: each kept group whose removal
    lowers the fold-mean ROC-AUC (every kept group if none does: the model needs an input), and each
    candidate whose addition raises it (each against the kept set)."""
    def score(features):
        return thread_cv_roc_auc(make, X[:, feature_columns(features, embedding_dim)], y, folds)

    reference = score(METADATA_FEATURES)
    verdicts = {(variant, group): supported(variant, score(features) - reference)
                for variant, group, features in ablation_variants()}
    kept = [g for g in FEATURE_GROUPS if verdicts["without", g]] or list(FEATURE_GROUPS)
    return kept + [g for g in CANDIDATE_GROUPS if verdicts["with_candidate", g]]


def scores_with(family: str, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                folds: np.ndarray, threads: np.ndarray, features: tuple[str, ...], embedding: bool = True) -> dict:
    """Fold-mean and within-thread ROC-AUC of out-of-fold scores reading the metadata `features` (and the
    embedding when `embedding` and the configuration reads it)."""
    if not embedding:
        config = {**config, "embedding_components": 0}
    oof = out_of_fold_scores(lambda: build(family, config, seed, embedding_dim), fit_quietly,
                             X[:, feature_columns(features, embedding_dim)], y, folds)
    return {"thread_cv_roc_auc": round(fold_roc_auc(y, oof, folds), 4),
            "within_thread_roc_auc": round(within_thread_roc_auc(y, oof, threads)["mean"], 4)}


def with_change(scores: dict, reference: dict) -> dict:
    return {**scores, **{f"change_{k}": round(v - reference[k], 4) for k, v in scores.items()}}


def ablation_run(family: str, config: dict, seed: int, X: np.ndarray, embedding_dim: int, y: np.ndarray,
                 folds: np.ndarray, threads: np.ndarray) -> dict:
    """The family's scores with its kept inputs, without the text embedding, without each kept group and with
    each candidate; whether each verdict supports the code's choice, and the disagreements. `X`: the
    embedding, then ALL_FEATURES."""
    def scores(features, embedding=True):
        return scores_with(family, config, seed, X, embedding_dim, y, folds, threads, features, embedding)

    reference = scores(METADATA_FEATURES)
    run = {"config": config, "all_inputs": reference, "without": {}, "with_candidate": {}}
    if config.get("embedding_components"):
        run["without"]["text_embedding"] = with_change(scores(METADATA_FEATURES, embedding=False), reference)
    else:
        run["without"]["text_embedding"] = {"note": "no embedding read (the family or its configuration leaves it out)"}
    variants = ablation_variants()
    progress = Progress(f"ablation {family}", len(variants), "variants")
    for variant, group, features in variants:
        changed = with_change(scores(features), reference)
        progress.advance()
        run[variant][group] = {**changed, "supported": supported(variant, changed["change_thread_cv_roc_auc"])}
        print(f"ablation {family} {variant.replace('_', ' ')} {group}: {json.dumps(run[variant][group])}")
    run["unsupported_kept"] = [g for g in FEATURE_GROUPS if not run["without"][g]["supported"]]
    run["supported_candidates"] = [g for g in CANDIDATE_GROUPS if run["with_candidate"][g]["supported"]]
    return run
