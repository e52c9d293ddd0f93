"""The trained scikit-learn families on sentence embeddings: how each is built and what it reads.

  mlp_transformer  the seed's StandardScaler + MLPClassifier on the embedding
  hybrid           the embedding (standardised, reduced by PCA) next to the standardised metadata known
                   when a comment is written (reception.features), into logistic regression or
                   gradient-boosted trees
Training (hpo, train) and the registered model (pyfunc) build their input with `feature_matrix`.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from reception.features import metadata_features

EMBEDDING_FAMILIES = ("mlp_transformer", "hybrid")
METADATA_FAMILIES = frozenset({"hybrid"})


def build_mlp(hidden_layer_sizes, alpha: float, learning_rate_init: float, batch_size: int, max_iter: int,
              seed: int) -> Pipeline:
    return Pipeline([
        ("scaler", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=tuple(hidden_layer_sizes), alpha=alpha,
                              learning_rate_init=learning_rate_init, batch_size=batch_size, max_iter=max_iter,
                              random_state=seed)),
    ])


def build_hybrid(embedding_dim: int, embedding_components: int, classifier: dict, seed: int) -> Pipeline:
    """`classifier`: {"kind": "logreg", "C": ...} or {"kind": "hist_gradient_boosting", "learning_rate": ...,
    "max_depth": ..., "max_iter": ...}."""
    settings = {k: v for k, v in classifier.items() if k != "kind"}
    if classifier["kind"] == "logreg":
        head = LogisticRegression(**settings, max_iter=2000, random_state=seed)
    elif classifier["kind"] == "hist_gradient_boosting":
        head = HistGradientBoostingClassifier(**settings, random_state=seed)
    else:
        raise ValueError(f"unknown hybrid classifier kind {classifier['kind']!r}")
    embedding = Pipeline([("scaler", StandardScaler()), ("pca", PCA(embedding_components, random_state=seed))])
    columns = ColumnTransformer([("embedding", embedding, slice(0, embedding_dim)),
                                 ("metadata", StandardScaler(), slice(embedding_dim, None))])
    return Pipeline([("columns", columns), ("classifier", head)])


def build(family: str, config: dict, seed: int, embedding_dim: int) -> Pipeline:
    if family == "mlp_transformer":
        return build_mlp(**config, seed=seed)
    if family == "hybrid":
        return build_hybrid(embedding_dim, **config, seed=seed)
    raise ValueError(f"unknown family {family!r}; trained families: {', '.join(EMBEDDING_FAMILIES)}")


def feature_matrix(family: str, embeddings: np.ndarray, frame: pd.DataFrame | dict | None) -> np.ndarray:
    """The family's input: the embedding, plus reception.features.metadata_features(frame) for hybrid
    (`frame`: a training DataFrame, or the request columns)."""
    if family not in METADATA_FAMILIES:
        return embeddings
    return np.hstack([embeddings.astype("float64"), metadata_features(frame)])


def fit_quietly(model: Pipeline, X, y) -> Pipeline:
    """The seed's max_iter of 5-20 epochs stops before convergence on purpose; that warning is noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)
