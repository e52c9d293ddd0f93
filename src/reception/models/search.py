"""The Hyperopt search of a trained family's configuration, shared by hpo (once, on train, logged to
MLflow) and train (nested: again inside each outer thread fold, so that the thread-CV score of a family
never rests on a configuration chosen with the held-out threads).

A declared space is plain YAML: {choice: [...]}, {loguniform: [low, high]} and {uniform: [low, high]}
become distributions labelled by their path; other values stay as they are. TPE is seeded (rstate).
"""
from __future__ import annotations

import json

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, hp, space_eval, tpe

from reception.models.evaluation import fold_roc_auc, out_of_fold_scores
from reception.models.families import fit_quietly
from reception.progress import Progress

DISTRIBUTIONS = {"choice": lambda label, options: hp.choice(label, [to_hyperopt(o, f"{label}.{i}")
                                                                     for i, o in enumerate(options)]),
                 "loguniform": lambda label, bounds: hp.loguniform(label, np.log(bounds[0]), np.log(bounds[1])),
                 "uniform": lambda label, bounds: hp.uniform(label, *bounds)}


def to_hyperopt(space, label: str = ""):
    """A declared space (plain YAML) -> Hyperopt's."""
    if isinstance(space, dict) and len(space) == 1 and next(iter(space)) in DISTRIBUTIONS:
        kind, argument = next(iter(space.items()))
        return DISTRIBUTIONS[kind](label, argument)
    if isinstance(space, dict):
        return {key: to_hyperopt(value, f"{label}.{key}" if label else key) for key, value in space.items()}
    if isinstance(space, list):
        return [to_hyperopt(value, f"{label}.{i}") for i, value in enumerate(space)]
    return space


def thread_cv_roc_auc(make_model, X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    """Mean ROC-AUC over `folds` of out-of-fold scores, each fold scored by make_model() fit on the others."""
    return fold_roc_auc(y, out_of_fold_scores(make_model, fit_quietly, X, y, folds), folds)


def tpe_search(declared_space: dict, score, objective: str, max_evals: int, seed: int,
               progress: str | None = None) -> tuple[dict, dict, Trials]:
    """(best configuration, its scores, the trials) of TPE maximising score(config)[objective]. `progress`: a
    label under which the trials done, their rate and an ETA go to stderr (reception.progress)."""
    space = to_hyperopt(declared_space)
    counter = Progress(progress, max_evals, "trials") if progress else None

    def loss(config: dict) -> dict:
        scores = score(config)
        if counter:
            counter.advance()
        return {"loss": -scores[objective], "status": STATUS_OK, "scores": scores}

    trials = Trials()
    best_point = fmin(loss, space, algo=tpe.suggest, max_evals=max_evals, trials=trials,
                      rstate=np.random.default_rng(seed), show_progressbar=False)
    best = json.loads(json.dumps(space_eval(space, best_point)))  # tuples -> lists
    return best, trials.best_trial["result"]["scores"], trials
