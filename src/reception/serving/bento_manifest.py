"""The bento manifest, models/bento.json: which models a bento serves, by their BentoML tags.

The `bento` stage writes it before it builds and ships it inside the bento, so the service serves the
tags it names, never the store's `latest` (whatever was imported last, e.g. by a `dvc exp run` in another
checkout). It holds the bento's tag, the locked winner's tag, hash and family, every served family with its
tag, kind and thread-CV ROC-AUC, the declared trained families not trained here with why, and the sha256 of
every file of each served model's folder, which the service checks before it loads anything from the folder
(reception.models.artifact_hashes).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from reception.models import artifact_hashes
from reception.outputs import write_json

MISSING = "run `dvc repro bento` (or `make run`): it imports the locked winner and writes it"


@dataclass(frozen=True)
class BentoManifest:
    bento: str  # the bento's tag
    model: str  # the locked winner's BentoML tag
    champion_md5: str  # its hash in dvc.lock (register's models/champion)
    family: str  # its family
    models: dict[str, dict]  # key -> {tag, family, kind, thread_cv_roc_auc, champion}
    unavailable: dict[str, str]  # declared trained family not trained here -> why
    # served key -> {file relative to the model's folder: sha256}; none in a manifest written before hashes
    files: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def served(self) -> dict[str, dict]:
        """Every served family by its key: the locked winner first, then by thread-CV ROC-AUC."""
        return dict(sorted(self.models.items(), key=lambda item: (not item[1]["champion"],
                                                                  -item[1]["thread_cv_roc_auc"])))

    def write(self, path: Path) -> None:
        write_json(path, {"bento": self.bento, "model": self.model, "champion_md5": self.champion_md5,
                          "family": self.family, "models": self.models, "unavailable": self.unavailable,
                          "files": self.files})

    def check(self, key: str, folder: Path, where: Path) -> None:
        """Raises ArtifactMismatch unless the served model `key`'s folder holds exactly the files this
        manifest (read from `where`) records: none changed, missing or added."""
        artifact_hashes.verify(folder, self.files.get(key), f"model '{key}' ({self.models[key]['tag']})", str(where))


def read(path: Path) -> BentoManifest | None:
    """The manifest at `path`, or None where there is none yet (a checkout before `dvc repro bento`)."""
    return BentoManifest(**json.loads(path.read_text())) if path.is_file() else None


def require(manifest: BentoManifest | None, path: Path) -> BentoManifest:
    """The manifest, or a RuntimeError that says what to run."""
    if manifest is None:
        raise RuntimeError(f"{path} is missing: {MISSING}")
    return manifest


def model_attribute(key: str) -> str:
    """The service class attribute that declares the served family `key`'s model."""
    return f"model_{key}"


def declare_models(manifest: BentoManifest | None):
    """A class decorator: every served family's model as a class attribute (`BentoModel`), which is how
    BentoML 1.4 finds a service's models, so that the bento ships each of them (a container's store holds
    nothing else). Without a manifest it declares none: the service imports, and fails at start-up."""
    def declare(cls):
        import bentoml

        for key, entry in (manifest.served if manifest else {}).items():
            setattr(cls, model_attribute(key), bentoml.models.BentoModel(entry["tag"]))
        return cls
    return declare
