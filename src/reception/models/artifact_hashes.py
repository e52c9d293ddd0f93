"""The sha256 of every file of a model folder, recorded in git and checked before anything in it is loaded.

Loading a model folder (MLflow's MLmodel and python_model.pkl, the classifier's joblib, the fine-tuned head,
the ONNX encoder, config.json, the packaged code) unpickles and imports what it holds: whoever can replace one
of its files runs code in the process that loads it. So each folder's files are hashed when it is made and
the hashes are committed: models/bento.json for the folders a bento serves (the `bento` stage),
models/registered.json for the versions `register` puts in the MLflow registry. A folder is loaded only
when its files are exactly the recorded ones: none changed, none missing, none added. The hashes are never
read from the folder itself or from MLflow tags: whoever can move the registry's alias can set those too.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from reception.outputs import write_json

CHUNK_BYTES = 1 << 20


class ArtifactMismatch(RuntimeError):
    """A model folder whose files are not the ones recorded in git (or that has none recorded)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def folder_hashes(folder: Path) -> dict[str, str]:
    """{path relative to `folder` (POSIX): sha256} of every file under it."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): file_sha256(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def differences(recorded: dict[str, str], found: dict[str, str]) -> list[str]:
    """Each file that differs from the record, in words, with both hashes."""
    changed = [f"{name}: sha256 {recorded[name]} recorded, {found[name]} found"
               for name in sorted(recorded.keys() & found.keys()) if recorded[name] != found[name]]
    missing = [f"{name}: recorded (sha256 {recorded[name]}) but missing" for name in sorted(recorded.keys() - found)]
    added = [f"{name}: not recorded, found (sha256 {found[name]})" for name in sorted(found.keys() - recorded)]
    return changed + missing + added


def verify(folder: Path, recorded: dict[str, str] | None, what: str, where: str) -> None:
    """Raises ArtifactMismatch unless the files under `folder` are exactly `recorded` (from `where`, a file in
    git); `what` names the model in the message."""
    if not recorded:
        raise ArtifactMismatch(f"{what}: {where} records no file hashes for it; refusing to load {folder}")
    if problems := differences(recorded, folder_hashes(folder)):
        raise ArtifactMismatch(f"{what} ({folder}) is not the model recorded in {where}; refusing to load it: "
                               + "; ".join(problems))


def recorded_version(path: Path, name: str, version: str) -> dict | None:
    """{"family", "files"} that `register` recorded for version `version` of the registered model `name`,
    or None where it recorded none (a version registered elsewhere, or before hashes were recorded)."""
    if not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text()).get(name, {}).get(str(version))


def record_version(path: Path, name: str, version: str, family: str, files: dict[str, str]) -> None:
    """Adds (or replaces) a registered version's record, keeping every other version's: a later `register`
    compares with whichever version holds the alias then."""
    records = json.loads(Path(path).read_text()) if Path(path).is_file() else {}
    records.setdefault(name, {})[str(version)] = {"family": family, "files": files}
    write_json(path, records)


def download_version(name: str, version: str, destination: Path) -> Path:
    """The files of registered version `version` of `name`, downloaded into `destination` (created), as
    mlflow.pyfunc.load_model would see them; nothing in them is loaded. MLflow adds `registered_model_meta`
    (the name and version) to every such download, so it is part of the record too."""
    from mlflow.artifacts import download_artifacts

    Path(destination).mkdir(parents=True, exist_ok=True)
    return Path(download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(destination)))


def checked_version(name: str, version: str, record: dict | None, destination: Path, where: Path) -> Path:
    """A registered version downloaded into `destination` and checked against its record in git (`where`);
    the folder to load it from. Raises ArtifactMismatch before anything in it is loaded."""
    folder = download_version(name, version, destination)
    verify(folder, (record or {}).get("files"), f"registered model {name} version {version}", str(where))
    return folder
