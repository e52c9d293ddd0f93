"""The model families: their declaration (params.yaml `families`, read here) and the scikit-learn builders.

Each family is declared once, in params.yaml, under the stage that scores it (baselines, train or
finetune), with what it reads and, for the Hyperopt-searched families, its objective and search space.
Every stage, the registered model's config, the service and the tests take the names from
`declared()`. The code of a `train` family is its builder here:

  mlp_transformer  IMEDIA's StandardScaler + MLPClassifier on the embedding
  hybrid           the embedding (standardised, reduced by PCA) next to the standardised metadata known
                   when a comment is written (reception.data.features), into logistic regression
  thread_gbm       the metadata alone (the thread as the writer saw it included) into gradient-boosted
                   trees, which can combine where a comment sits with when it comes
Training (hpo, train) and the registered model (pyfunc) build their input with `feature_matrix`, from the
embedding as `Family.embedding_of` gives it (none for a family that does not read it).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
from threadpoolctl import threadpool_limits

from reception.data.features import METADATA_FEATURES, metadata_features
from reception.data.splits import capped_rows
from reception.params import all_params
from reception.paths import PARAMS_FILE

SCORING_STAGES = ("baselines", "train", "finetune")


@dataclass(frozen=True)
class Family:
    name: str
    stage: str  # the DVC stage that scores it: baselines, train or finetune
    reads: tuple[str, ...]  # text, embedding, metadata
    settings: dict = field(default_factory=dict, hash=False)  # the rest of its declaration

    @property
    def kind(self) -> str:
        """baseline (the champion must beat it) or trained (a champion candidate)."""
        return "baseline" if self.stage == "baselines" else "trained"

    @property
    def uses_metadata(self) -> bool:
        return "metadata" in self.reads

    @property
    def uses_embedding(self) -> bool:
        return "embedding" in self.reads

    def embedding_of(self, embeddings: np.ndarray) -> np.ndarray:
        """The embedding columns the family reads: all of them, or none (zero columns, same rows)."""
        return embeddings if self.uses_embedding else embeddings[:, :0]

    @property
    def max_rows(self) -> int | None:
        """The most rows a fit of this family takes (declared `max_rows`; None: all): whole threads drawn by
        reception.data.splits.capped_rows. A family whose input does not fit in memory at scale declares one."""
        cap = self.settings.get("max_rows")
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise ValueError(f"families.{self.stage}.{self.name}.max_rows must be a whole number >= 1 or null, "
                             f"got {cap!r}")
        return cap

    def fit_rows(self, post_ids: np.ndarray, seed: int) -> np.ndarray:
        """The positions of the rows (of `post_ids`' rows) a fit of this family uses under its max_rows."""
        return capped_rows(post_ids, self.max_rows, seed)

    def rows_report(self, fit_rows: np.ndarray, of_rows: int, seed: int) -> dict:
        """For a stage's metrics: how many rows the family's fits used (`fit_rows`, as fit_rows drew them), of
        how many, under which cap."""
        return {"fit_rows": len(fit_rows), "of_rows": of_rows, "max_rows": self.max_rows, "seed": seed}

    @property
    def zero_shot(self) -> bool:
        """A pretrained checkpoint scored as it is, loaded by name."""
        return "checkpoint" in self.settings


def declared(params_file: Path = PARAMS_FILE) -> dict[str, Family]:
    """Every declared family by name, baselines first, in the order of params.yaml."""
    groups = all_params(params_file)["families"]
    families = {}
    for stage in SCORING_STAGES:
        for name, entry in (groups.get(stage) or {}).items():
            if name in families:
                raise ValueError(f"family {name!r} is declared twice in {params_file} (families.{stage})")
            settings = {k: v for k, v in entry.items() if k != "reads"}
            families[name] = Family(name, stage, tuple(entry.get("reads") or ()), settings)
    return families


def of_kind(kind: str, params_file: Path = PARAMS_FILE) -> dict[str, Family]:
    return {name: f for name, f in declared(params_file).items() if f.kind == kind}


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
    "max_depth": ..., "max_iter": ...}; `embedding_components` 0 leaves the embedding out (a choice of the
    search, which the ablation showed can help on unseen threads)."""
    settings = {k: v for k, v in classifier.items() if k != "kind"}
    if classifier["kind"] == "logreg":
        head = LogisticRegression(**settings, max_iter=2000, random_state=seed)
    elif classifier["kind"] == "hist_gradient_boosting":
        head = HistGradientBoostingClassifier(**settings, random_state=seed)
    else:
        raise ValueError(f"unknown hybrid classifier kind {classifier['kind']!r}")
    branches = [("metadata", StandardScaler(), slice(embedding_dim, None))]
    if embedding_components:  # 0: the search dropped the embedding; the text counts by its length and punctuation
        embedding = Pipeline([("scaler", StandardScaler()), ("pca", PCA(embedding_components, random_state=seed))])
        branches.insert(0, ("embedding", embedding, slice(0, embedding_dim)))
    columns = ColumnTransformer(branches)
    return Pipeline([("columns", columns), ("classifier", head)])


def build_thread_gbm(embedding_dim: int, seed: int, **trees) -> Pipeline:
    """Gradient-boosted trees (scikit-learn's histogram GBM) on the metadata columns after `embedding_dim`
    (0: the family reads no embedding). The scaler changes no split; it holds the training means that
    explanations use as their reference, as the hybrid's does."""
    return build_hybrid(embedding_dim, 0, {"kind": "hist_gradient_boosting", **trees}, seed)


BUILDERS = {
    "mlp_transformer": lambda config, seed, embedding_dim: build_mlp(**config, seed=seed),
    "hybrid": lambda config, seed, embedding_dim: build_hybrid(embedding_dim, **config, seed=seed),
    "thread_gbm": lambda config, seed, embedding_dim: build_thread_gbm(embedding_dim, seed, **config),
}


def build(family: str, config: dict, seed: int, embedding_dim: int) -> Pipeline:
    if family not in BUILDERS:
        raise ValueError(f"no builder for family {family!r}; families with one: {', '.join(BUILDERS)}")
    return BUILDERS[family](config, seed, embedding_dim)


def feature_matrix(uses_metadata: bool, embeddings: np.ndarray, frame: pd.DataFrame | dict | None,
                   features: tuple[str, ...] = METADATA_FEATURES) -> np.ndarray:
    """A trained family's input: the embedding, plus reception.data.features.metadata_features(frame) for a
    family that reads metadata (`frame`: a training DataFrame, or the request columns). `features`: the kept
    METADATA_FEATURES; only the ablation asks for more (the candidates it tries)."""
    if not uses_metadata:
        return embeddings
    return np.hstack([embeddings.astype("float64"), metadata_features(frame, features)])


def rows_matrix(family: Family, frame: pd.DataFrame, embedding_rows) -> Callable[[np.ndarray], np.ndarray]:
    """matrix(positions) -> the family's input (feature_matrix) for those rows of `frame`, their embedding read
    by embedding_rows(positions) only when the family reads it: what a fit or scores_in_chunks takes."""
    def matrix(rows: np.ndarray) -> np.ndarray:
        vectors = embedding_rows(rows) if family.uses_embedding else np.zeros((len(rows), 0), "float32")
        return feature_matrix(family.uses_metadata, vectors, frame.iloc[rows])
    return matrix


# Rows scored per predict_proba call when scoring many rows: their input matrix (embedding as float64 beside
# the metadata) stays near 650 MB, whatever the number of rows.
SCORE_CHUNK_ROWS = 200_000


def scores_in_chunks(model, matrix, rows: np.ndarray, chunk_rows: int = SCORE_CHUNK_ROWS) -> np.ndarray:
    """P(positive) of `rows` (positions) by `model`, their input built by matrix(positions) a chunk at a time."""
    if not len(rows):
        return np.zeros(0)
    return np.concatenate([model.predict_proba(matrix(rows[start:start + chunk_rows]))[:, 1]
                           for start in range(0, len(rows), chunk_rows)])


def fit_quietly(model: Pipeline, X, y) -> Pipeline:
    """IMEDIA's max_iter of 5-20 epochs stops before convergence on purpose; that warning is noise.

    One OpenMP thread (scikit-learn's gradient-boosted trees use OpenMP; the other families BLAS): with any
    other process busy on a 2-core machine, two threads spin waiting for each other. Measured: a 100-tree fit
    on 3,000 rows took 14 s with two threads against 0.34 s with one, on 270,000 rows 54 s against 10 s."""
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)
