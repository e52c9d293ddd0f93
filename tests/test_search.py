"""The shared search: declared spaces become Hyperopt's, TPE is seeded, the objective is thread-CV ROC-AUC."""
import numpy as np
from sklearn.linear_model import LogisticRegression

from reception.models.search import thread_cv_roc_auc, to_hyperopt, tpe_search


def test_search_is_seeded_and_picks_the_better_configuration():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(0, 0.5, 400) > 0).astype(int)
    folds = np.arange(400) % 4
    space = {"column": {"choice": [0, 1, 2]}, "C": {"loguniform": [0.01, 1.0]}}

    def score(config):
        def make():
            return LogisticRegression(C=config["C"])
        return {"auc": thread_cv_roc_auc(make, X[:, [config["column"]]], y, folds)}

    best, scores, trials = tpe_search(space, score, "auc", max_evals=8, seed=3)
    assert best["column"] == 0 and scores["auc"] > 0.8 and len(trials.trials) == 8
    assert tpe_search(space, score, "auc", max_evals=8, seed=3)[0] == best
    assert to_hyperopt({"a": [1, {"b": 2}]}) == {"a": [1, {"b": 2}]}
