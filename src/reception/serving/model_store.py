"""Where the service's trained models come from: the BentoML models a bento declares, or one registered
model named by an MLflow URI (RECEPTION_MODEL_URI, e.g. models:/reddit-reception@champion, with
MLFLOW_TRACKING_URI), which is then served alone.

Each model is handed over as its own scoring code (ReceptionModel: cleaning, encoder, classifier), called
without the pyfunc input-schema pass, which costs more than the classifier on a single short text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


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


def registry_model(uri: RegistryUri) -> tuple[dict, object]:
    """(registration, scorer) of the registered model `uri` names. The registration has the keys
    `register` writes to models/champion/registration.json that the registry also records."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = (client.get_model_version_by_alias(uri.name, uri.alias) if uri.alias
               else client.get_model_version(uri.name, uri.version))
    registration = {"registered_name": uri.name, "version": version.version, "source": uri.uri,
                    "family": version.tags.get("family"), "alias": uri.alias, "alias_set": uri.alias is not None,
                    "reason": version.tags.get("alias_decision")}
    return registration, mlflow.pyfunc.load_model(uri.uri).unwrap_python_model()


def bento_models(models: dict[str, object]) -> dict[str, object]:
    """{key: scorer} of the BentoML models (BentoModel references) the bento declares."""
    import bentoml.mlflow

    return {key: bentoml.mlflow.load_model(model).unwrap_python_model() for key, model in models.items()}


def bento_registration(model) -> dict:
    """Name, version and alias decision of the locked winner, as `register` recorded them inside it
    ({} for a model packaged before register recorded them)."""
    registration = Path(model.path_of("mlflow_model")) / "registration.json"
    return json.loads(registration.read_text()) if registration.is_file() else {}
