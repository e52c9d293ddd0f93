"""Where MLflow runs and models go.

Default: a SQLite store `mlflow.db` and an artifact folder `mlartifacts/` at the root of the main
working tree. `dvc exp run --queue` runs stages in temporary copies of the repo; DVC sets DVC_ROOT to
the parent repo there, so queued runs land in the same store as workspace runs.
MLFLOW_TRACKING_URI overrides the store (a tracking server, for instance).
"""
from __future__ import annotations

import os
from pathlib import Path


def main_worktree_root() -> Path:
    return Path(os.environ.get("DVC_ROOT", ".")).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{main_worktree_root() / 'mlflow.db'}"


def setup(experiment: str):
    """Point MLflow at the store and select (or create) the experiment; returns the mlflow module."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    if mlflow.get_experiment_by_name(experiment) is None and not os.environ.get("MLFLOW_TRACKING_URI"):
        # An explicit artifact root: MLflow's default (./mlruns) would be inside a temporary exp copy.
        mlflow.create_experiment(experiment, artifact_location=(main_worktree_root() / "mlartifacts").as_uri())
    mlflow.set_experiment(experiment)
    return mlflow


def run_tags() -> dict[str, str]:
    """Which DVC experiment (if any) a run belongs to, so queued runs can be told apart in the store."""
    names = {"dvc_exp_name": "DVC_EXP_NAME", "dvc_exp_baseline_rev": "DVC_EXP_BASELINE_REV"}
    return {tag: os.environ[var] for tag, var in names.items() if os.environ.get(var)}
