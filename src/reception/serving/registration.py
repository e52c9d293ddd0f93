"""Packaging and registering a family: the text-in MLflow model of the winner, registered and saved as
models/champion/, and every other servable family saved alike as models/served/<family>/ (not registered: the
service serves each by its key).

The embedding families ship their encoder as an ONNX export of the hash-checked weights (faster on CPU); it
must reproduce the training embeddings of the val split within EXPORT_TOLERANCE. The alias follows the
champion rule (reception.models.champion); each version records its training threads for the next holder
comparison, and the sha256 of each of its files as the registry serves them, which `register` commits to git
(reception.models.artifact_hashes). The report names the tracking store's scheme only, never its URI.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from reception.data.features import training_defaults
from reception.data.splits import read_embeddings, read_split
from reception.models import artifact_hashes, onnx_encoder, tracking
from reception.models.champion import (
    DECIDING_METRIC,
    TRAINING_THREADS,
    alias_decision,
    compare_with_holder,
    current_champion,
    training_threads,
)
from reception.models.encoder import resolve_model_dir
from reception.models.families import Family
from reception.outputs import fresh_dir, write_json
from reception.paths import (
    CHAMPION_DIR,
    COMPARISON_JSON,
    COMPARISON_MD,
    MODEL_FILE,
    PLOTS_DIR,
    SERVED_DIR,
    best_params_file,
    classifier_file,
    family_dir,
)
from reception.serving.registered_model import model_kwargs, write_config

EXPORT_TOLERANCE = 1e-4  # float32 rounding differs between runtimes; measured ~4e-7


class ExportedEncoder:
    """The ONNX export of the training encoder, made and checked against the val embeddings at most once
    per run: every embedding family (the champion and the served ones) packages the same bytes."""

    def __init__(self, embed: dict, folder: Path) -> None:
        self.embed, self.folder, self.error = embed, folder, None

    def __call__(self) -> tuple[Path, float]:
        """(the export's folder, its largest deviation from the val embeddings)."""
        if self.error is None:
            onnx_encoder.export(resolve_model_dir(self.embed["model"]), self.embed["weights_sha256"], self.folder)
            self.error = onnx_encoder.reproduction_error(
                onnx_encoder.OnnxEncoder(self.folder), read_split("val")["clean_text"].tolist(),
                read_embeddings("val"), self.embed["batch_size"])
            if self.error > EXPORT_TOLERANCE:
                raise onnx_encoder.EncoderExportMismatch(
                    f"the ONNX encoder differs from the training embeddings by {self.error:.2e} "
                    f"(tolerance {EXPORT_TOLERANCE})")
        return self.folder, self.error


def model_files(family: Family, config_dir: Path, encoder: ExportedEncoder) -> tuple[dict, Path, dict]:
    """(artifacts, config file, params to log) of a trained family."""
    embed = encoder.embed
    if family.kind == "baseline":  # a text pipeline the baselines stage kept (tfidf_logreg)
        config = write_config(config_dir / "config.json", family.name, embed["batch_size"], text_pipeline=True)
        return {"classifier": family_dir(family.stage, family.name) / MODEL_FILE}, config, {"family": family.name}
    if family.stage == "finetune":
        config = write_config(config_dir / "config.json", family.name, embed["batch_size"], finetuned=True)
        return {"finetuned": family_dir(family.stage, family.name)}, config, {"family": family.name}
    defaults = training_defaults(read_split("train")) if family.uses_metadata else None
    config = write_config(config_dir / "config.json", family.name, embed["batch_size"], defaults)
    best = json.loads(best_params_file(family.name).read_text())
    artifacts = {"classifier": classifier_file(family.name)}
    logged = {"family": family.name, "best_params": json.dumps(best), "metadata_defaults": json.dumps(defaults)}
    if family.uses_embedding:  # a family without the embedding (thread_gbm) ships no encoder
        encoder_dir, export_error = encoder()
        artifacts["encoder"] = encoder_dir
        logged.update({"embedding_model": embed["model"], "encoder_backend": "onnxruntime",
                       "encoder_export_max_abs_error": f"{export_error:.1e}"})
    return artifacts, config, logged


def servable(row: dict, family: Family) -> bool:
    """A family that scored here and has a model to serve: every trained one, and a baseline the
    baselines stage kept (tfidf_logreg)."""
    return row["status"] == "ok" and (family.kind == "trained" or (family_dir(family.stage, family.name) /
                                                                     MODEL_FILE).is_file())


def save_served(rows: list[dict], champion: str, families: dict[str, Family], encoder: ExportedEncoder) -> None:
    """Every other servable family, as a self-contained folder like the champion's."""
    import mlflow

    fresh_dir(SERVED_DIR)
    for row in rows:
        if row["family"] == champion or not servable(row, families[row["family"]]):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            artifacts, config, _ = model_files(families[row["family"]], Path(tmp), encoder)
            mlflow.pyfunc.save_model(path=str(SERVED_DIR / row["family"]), **model_kwargs(artifacts, config))


def register(params: dict, rows: list[dict], winner: dict, families: dict[str, Family], encoder: ExportedEncoder,
             train_val: pd.DataFrame, mlflow, tags: dict) -> tuple[dict, list[str], dict[str, str]]:
    """Logs and registers the winner, decides the alias, saves models/champion/; returns the report, the
    training threads and the sha256 of each file of the registered version (for REGISTERED_MODELS)."""
    threads = training_threads(train_val)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"register_{winner['family']}",
                                                                tags=tags) as run:
        artifacts, config, logged = model_files(families[winner["family"]], Path(tmp), encoder)
        kwargs = model_kwargs(artifacts, config)
        mlflow.log_params(logged)
        mlflow.log_metrics({k: v for k, v in winner.items() if isinstance(v, float)})
        write_json(Path(tmp) / TRAINING_THREADS, threads)
        for artifact in (COMPARISON_JSON, COMPARISON_MD, Path(tmp) / TRAINING_THREADS):
            mlflow.log_artifact(str(artifact))
        mlflow.log_artifacts(str(PLOTS_DIR), "plots")
        client = mlflow.MlflowClient()
        # Before log_model registers the winner: the holder is the version with the alias now.
        current = current_champion(client, params["name"], params["alias"])
        if current is not None:
            current.update(compare_with_holder(current, params["name"], winner["family"], train_val,
                                               params["base"]["seed"]))
        info = mlflow.pyfunc.log_model(name="model", registered_model_name=params["name"], **kwargs)
        version = str(info.registered_model_version)
        # The files as the registry serves them (MLmodel differs from the saved copy's: run and time), hashed
        # for git: the service and the next register load this version only if they still match.
        files = artifact_hashes.folder_hashes(artifact_hashes.download_version(params["name"], version,
                                                                               Path(tmp) / "registered"))
        champion, reason = alias_decision(rows, winner, current)
        for tag, value in {DECIDING_METRIC: str(winner[DECIDING_METRIC]), "family": winner["family"],
                           "training_threads": str(len(threads)), "alias_decision": reason, **tags}.items():
            client.set_model_version_tag(params["name"], version, tag, value)
        if champion:
            client.set_registered_model_alias(params["name"], params["alias"], version)
        fresh_dir(CHAMPION_DIR).rmdir()  # save_model wants to create the folder itself
        mlflow.pyfunc.save_model(path=str(CHAMPION_DIR), **kwargs)
        run_id = run.info.run_id

    # The version that held the alias, and the same-data comparison with it or why there is none.
    held = {key: (current or {}).get(key) for key in ("version", "comparison", "fallback")}
    report = {"registered_name": params["name"], "version": version, "family": winner["family"],
              "deciding_metric": DECIDING_METRIC, "alias": params["alias"] if champion else None,
              "alias_set": champion, "reason": reason, "training_thread_count": len(threads), "holder": held,
              "mlflow_run_id": run_id, "tracking_scheme": tracking_scheme(tracking.tracking_uri()),
              **{k: logged[k] for k in ("encoder_backend", "encoder_export_max_abs_error") if k in logged}}
    return report, threads, files


def tracking_scheme(uri: str) -> str:
    """Which kind of store a version went to ("sqlite", "http", "https", "file", ...): never the URI itself,
    which may carry a user and password, a host or a local path."""
    return urlsplit(uri).scheme or "file"
