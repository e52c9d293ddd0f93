"""Where the service's trained models come from: the BentoML models a bento declares, or one registered
model named by an MLflow URI (RECEPTION_MODEL_URI, e.g. models:/reddit-reception@champion, with
MLFLOW_TRACKING_URI), which is then served alone.

Each model is handed over as its own scoring code (ReceptionModel: cleaning, encoder, classifier), called
without the pyfunc input-schema pass, which costs more than the classifier on a single short text.

Nothing in a model's folder is read before its files match the sha256 recorded in git
(reception.models.artifact_hashes): a bento's models against models/bento.json, a registered version
against models/registered.json, never against anything the registry itself says. A mismatch, or a model
with no recorded hashes, stops the start-up with a message naming each file and both hashes.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reception.models import artifact_hashes
from reception.serving.bento_manifest import BentoManifest

MLFLOW_FOLDER = "mlflow_model"  # where bentoml.mlflow.import_model puts the MLflow model in a BentoML model


@dataclass(frozen=True)
class RegistryUri:
    """models:/<name>@<alias> or models:/<name>/<version>."""
    uri: str
    name: str
    alias: str | None
    version: str | None

    @classmethod
    def parse(cls, uri: str) -> RegistryUri:
        path = uri.removeprefix("models:/")
        if path == uri or not path:
            raise ValueError(f"{uri!r} is not a registry URI: models:/<name>@<alias> or models:/<name>/<version>")
        if "@" in path:
            name, alias = path.split("@", 1)
            return cls(uri, name, alias, None)
        name, version = path.split("/", 1)
        return cls(uri, name, None, version)


def registry_model(uri: RegistryUri, registered: Path) -> tuple[dict, object]:
    """(registration, scorer) of the registered model `uri` names, once its files match their record in
    `registered` (models/registered.json). The registration has the keys `register` writes to
    models/champion/registration.json that the registry also records; the family is git's record."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = (client.get_model_version_by_alias(uri.name, uri.alias) if uri.alias
               else client.get_model_version(uri.name, uri.version))
    record = artifact_hashes.recorded_version(registered, uri.name, version.version)
    registration = {"registered_name": uri.name, "version": version.version, "source": uri.uri,
                    "family": (record or {}).get("family"), "alias": uri.alias, "alias_set": uri.alias is not None,
                    "reason": version.tags.get("alias_decision")}
    # By the version the alias named a moment ago: the files checked are the files loaded, wherever the
    # alias moves meanwhile. Everything is read into memory on load, so the download can go.
    with tempfile.TemporaryDirectory() as tmp:
        folder = artifact_hashes.checked_version(uri.name, version.version, record, Path(tmp), registered)
        return registration, mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()


def check_bento_models(models: dict[str, object], manifest: BentoManifest, where: Path) -> None:
    """Raises ArtifactMismatch unless each declared model's folder in the BentoML store (BentoModel
    references by key) holds exactly the files the manifest, read from `where`, records."""
    for key, model in models.items():
        manifest.check(key, Path(model.path_of(MLFLOW_FOLDER)), where)


def bento_models(models: dict[str, object]) -> dict[str, object]:
    """{key: scorer} of the BentoML models (BentoModel references) the bento declares; check_bento_models
    first."""
    import bentoml.mlflow

    return {key: bentoml.mlflow.load_model(model).unwrap_python_model() for key, model in models.items()}


def bento_registration(model) -> dict:
    """Name, version and alias decision of the locked winner, as `register` recorded them inside it
    ({} for a model packaged before register recorded them)."""
    registration = Path(model.path_of(MLFLOW_FOLDER)) / "registration.json"
    return json.loads(registration.read_text()) if registration.is_file() else {}
