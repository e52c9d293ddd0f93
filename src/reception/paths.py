"""Every file and folder the pipeline reads or writes, relative to the repository root, defined once.

Stages, the service, the benchmarks and the tests name paths through this module; dvc.yaml lists the
same paths as deps and outs (tests/test_stage_deps.py checks that every stage's outs are paths from here).
"""
from __future__ import annotations

from pathlib import Path

PARAMS_FILE = Path("params.yaml")
PROFILES_DIR = Path("profiles")  # `reception profile NAME` writes profiles/NAME.yaml into PARAMS_FILE
LOCK_FILE = Path("dvc.lock")

# Data layers. SOURCE_DIR: where `reception extract` writes and `reception prune` trims unless told
# otherwise; a DVC-tracked source folder (`dvc add`) that ingest.source can point at, never data/raw.
SOURCE_DIR = Path("data/source/reddit")
RAW_DIR = Path("data/raw/reddit")
# The sha256 of public source files whose authors are already pseudonyms: bronze runs on them without a key.
PUBLIC_SOURCES = Path("data/public_sources.json")
BRONZE_DIR = Path("data/bronze/reddit")
# Silver and interim tables are folders of Parquet parts (part.NNNNN.parquet, written by Dask partitions);
# pd.read_parquet(folder) reads one whole, dask.dataframe.read_parquet(folder) one partition per part.
SILVER_DIR = Path("data/silver/reddit")


def silver_table(name: str) -> Path:
    """A silver table's folder of parts: fact_comments, fact_posts, dim_subreddit, dim_author."""
    return SILVER_DIR / name


SILVER_COMMENTS = silver_table("fact_comments")
INTERIM_DIR = Path("data/interim")
# The interim stage's steps, each table named for what it holds:
LIVE_COMMENTS = INTERIM_DIR / "comments_live"  # mature, not deleted: raw body, normalised text
FEATURE_COMMENTS = INTERIM_DIR / "comments_features"  # + length and punctuation features
WINSORISED_COMMENTS = INTERIM_DIR / "comments_winsorised"  # + score_clipped, text_len_clipped
CLEAN_COMMENTS = INTERIM_DIR / "comments_clean_text"  # + clean_text: what processed labels and splits
INTERIM_STEPS = (LIVE_COMMENTS, FEATURE_COMMENTS, WINSORISED_COMMENTS, CLEAN_COMMENTS)  # in the order they are made
PROCESSED_DIR = Path("data/processed")
THREAD_FOLDS_FILE = PROCESSED_DIR / "thread_folds.parquet"
EMBEDDINGS_DIR = Path("data/embeddings")
EMBEDDINGS_METADATA = EMBEDDINGS_DIR / "metadata.json"
# Every vector embed has computed, by encoder and text hash (reception.models.embedding_cache): a DVC output
# of embed that persists between runs, so that each text is encoded once.
EMBEDDING_CACHE_DIR = Path("data/embedding_cache")
PREDICTIONS_DIR = Path("data/predictions")

# Models
MODELS_DIR = Path("models")
CHAMPION_DIR = MODELS_DIR / "champion"
SERVED_DIR = MODELS_DIR / "served"  # every other trained family, packaged as the champion is, for the service
BENTO_FILE = MODELS_DIR / "bento.json"
# The sha256 of every file of each registered model version, by name and version: git-tracked, written by
# register and read before a version is loaded from the registry (reception.models.artifact_hashes).
REGISTERED_MODELS = MODELS_DIR / "registered.json"

# Metrics and plots
METRICS_DIR = Path("metrics")
PLOTS_DIR = METRICS_DIR / "plots"
EDA_DIR = METRICS_DIR / "eda"
HPO_METRICS_DIR = METRICS_DIR / "hpo"
FAMILY_METRICS_DIR = METRICS_DIR / "families"  # evaluate: one <family>.json each
DATA_METRICS = METRICS_DIR / "data.json"
COMPARISON_JSON = METRICS_DIR / "comparison.json"
COMPARISON_MD = METRICS_DIR / "comparison.md"
REGISTER_METRICS = METRICS_DIR / "register.json"
ABLATION_METRICS = METRICS_DIR / "ablation.json"
LEAVE_ONE_SUBREDDIT_OUT_METRICS = METRICS_DIR / "leave_one_subreddit_out.json"  # forward.json: stage_metrics


def stage_metrics(stage: str) -> Path:
    """A data stage's own counts: metrics/<stage>.json."""
    return METRICS_DIR / f"{stage}.json"


def split_file(split: str) -> Path:
    return PROCESSED_DIR / f"{split}.parquet"


def embeddings_file(split: str) -> Path:
    return EMBEDDINGS_DIR / f"{split}.npy"


def predictions_dir(stage: str) -> Path:
    """The folder a scoring stage writes its families' scores into (each family: <name>.parquet, or an
    entry in status.json saying why it has none)."""
    return PREDICTIONS_DIR / stage


def predictions_file(stage: str, family: str) -> Path:
    return predictions_dir(stage) / f"{family}.parquet"


def status_file(stage: str) -> Path:
    return predictions_dir(stage) / "status.json"


def stage_models_dir(stage: str) -> Path:
    return MODELS_DIR / stage


def family_dir(stage: str, family: str) -> Path:
    """A trained family's own folder, under the stage that fits it: best_params.json (hpo) and
    classifier.joblib (train), or the fine-tuned model (finetune)."""
    return stage_models_dir(stage) / family


def best_params_file(family: str) -> Path:
    return family_dir("train", family) / "best_params.json"


MODEL_FILE = "model.joblib"  # a baseline's fitted model, in its family_dir("baselines", ...)


def classifier_file(family: str) -> Path:
    return family_dir("train", family) / "classifier.joblib"


def family_metrics(family: str) -> Path:
    return FAMILY_METRICS_DIR / f"{family}.json"
