"""register: log the winning trained family to MLflow as a text-in model and decide the alias.

The champion rule (the README states it too) is reception.models.champion; the packaging, the ONNX encoder
export and the registration are reception.serving.registration.
Writes models/champion/ (DVC-tracked, locked in dvc.lock), models/served/<family>/ for every other servable
family, and metrics/register.json (name, version, alias decision with the holder comparison, encoder export
error); models/champion/registration.json adds the training threads. Adds the registered version's file
hashes to models/registered.json (git-tracked, every version's kept: commit it with dvc.lock), against which
the service and the next register check the version before they load it.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from reception.data.splits import read_split
from reception.models import artifact_hashes, tracking
from reception.models.champion import DECIDING_METRIC, pick_winner
from reception.models.families import declared
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import (
    CHAMPION_DIR,
    COMPARISON_JSON,
    COMPARISON_MD,
    EMBEDDINGS_METADATA,
    REGISTER_METRICS,
    REGISTERED_MODELS,
)
from reception.serving.registration import ExportedEncoder, register, save_served


def main() -> None:
    params = load_params("register")
    rows = json.loads(COMPARISON_JSON.read_text())
    winner = pick_winner(rows)
    train_val = pd.concat([read_split("train"), read_split("val")], ignore_index=True)
    families = declared()
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    tags = tracking.run_tags()
    with tempfile.TemporaryDirectory() as export_dir:
        encoder = ExportedEncoder(json.loads(EMBEDDINGS_METADATA.read_text()), Path(export_dir) / "encoder")
        report, threads, files = register(params, rows, winner, families, encoder, train_val, mlflow, tags)
        save_served(rows, winner["family"], families, encoder)
    artifact_hashes.record_version(REGISTERED_MODELS, params["name"], report["version"], winner["family"], files)
    write_json(REGISTER_METRICS, {k: v for k, v in report.items() if k not in ("mlflow_run_id", "tracking_scheme")})
    write_json(CHAMPION_DIR / "registration.json", {**report, "training_threads": threads})
    print(COMPARISON_MD.read_text())
    print(f"winner: {winner['family']} ({DECIDING_METRIC} {winner[DECIDING_METRIC]}, test F1 {winner['test_f1']}, "
          f"test AUC {winner['test_roc_auc']})")
    print(f"registered: {params['name']} version {report['version']}; alias '{params['alias']}' "
          f"{'set' if report['alias_set'] else 'NOT set'}: {report['reason']}")


if __name__ == "__main__":
    main()
