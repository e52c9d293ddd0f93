"""The seed's classifier on sentence embeddings: StandardScaler + MLPClassifier."""
from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_mlp(hidden_layer_sizes, alpha: float, learning_rate_init: float, batch_size: int, max_iter: int,
              seed: int) -> Pipeline:
    return Pipeline([
        ("scaler", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=tuple(hidden_layer_sizes), alpha=alpha,
                              learning_rate_init=learning_rate_init, batch_size=batch_size, max_iter=max_iter,
                              random_state=seed)),
    ])


def fit_quietly(model: Pipeline, X, y) -> Pipeline:
    """The seed's max_iter of 5-20 epochs stops before convergence on purpose; that warning is noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)
