"""Model folders are loaded only when every file matches the sha256 recorded in git: a bento's models against
models/bento.json (the service refuses to start), a registered version against models/registered.json
(`register` refuses to compare with, or even unpickle, a holder that does not match or has no record).
No tracking URI, and so no credential in one, is written into the registration."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from test_champion import REPO_PARAMS, silver_comments, train_val

from reception import paths
from reception.models import artifact_hashes, champion
from reception.models.artifact_hashes import ArtifactMismatch
from reception.serving import bento_manifest, registration
from reception.serving.scored_record import ScoredRecord

REPO = Path(__file__).resolve().parents[1]
NAME = "reception-test"


class Tripwire(mlflow.pyfunc.PythonModel):
    """A model with the champion's interface (longer text, higher score) that leaves a file behind when it is
    unpickled: whether a refused folder was loaded all the same is then a fact on disk."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __setstate__(self, state):
        self.__dict__.update(state)
        Path(self.marker).write_text("unpickled")

    def score_records(self, records, batch_size=None, now=None):
        return [ScoredRecord(len(r["text"]) / 100, {}, [], None) for r in records]

    def predict(self, context, model_input, params=None):
        return np.array([scored.score for scored in self.score_records(model_input.to_dict("records"))])


def saved_model(folder: Path, marker: Path) -> Path:
    # pip_requirements given: MLflow would otherwise infer them by loading the model in a fresh interpreter
    mlflow.pyfunc.save_model(path=str(folder), python_model=Tripwire(marker), pip_requirements=["mlflow"])
    return folder


def change(folder: Path, name: str) -> None:
    with (folder / name).open("ab") as stream:
        stream.write(b"\0")


TAMPERING = {
    "changed": (lambda folder: change(folder, "python_model.pkl"), "python_model.pkl: sha256 {recorded} recorded, "),
    "missing": (lambda folder: (folder / "MLmodel").unlink(), "MLmodel: recorded (sha256 {recorded}) but missing"),
    "added": (lambda folder: (folder / "extra.pkl").write_bytes(b"payload"), "extra.pkl: not recorded, found (sha256 "),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_a_changed_missing_or_added_file_is_refused_and_named(tmp_path, tampering):
    folder = saved_model(tmp_path / "model", tmp_path / "unpickled")
    recorded = artifact_hashes.folder_hashes(folder)
    assert {"MLmodel", "python_model.pkl"} <= set(recorded)
    artifact_hashes.verify(folder, recorded, "model 'x'", "models/bento.json")  # as saved: accepted

    tamper, expected = TAMPERING[tampering]
    tamper(folder)
    with pytest.raises(ArtifactMismatch) as refused:
        artifact_hashes.verify(folder, recorded, "model 'x'", "models/bento.json")
    message = str(refused.value)
    name = expected.split(":")[0]
    assert expected.format(recorded=recorded.get(name)) in message and "models/bento.json" in message
    if tampering == "changed":  # both hashes named
        assert artifact_hashes.file_sha256(folder / name) in message
    assert len(message.split("refusing to load it: ")[1].split("; ")) == 1  # only the file that differs


def test_a_model_without_recorded_hashes_is_refused(tmp_path):
    folder = saved_model(tmp_path / "model", tmp_path / "unpickled")
    for recorded in (None, {}):
        with pytest.raises(ArtifactMismatch, match="models/bento.json records no file hashes for it"):
            artifact_hashes.verify(folder, recorded, "model 'x'", "models/bento.json")


def test_the_bento_manifest_keeps_each_models_files_and_checks_its_folder(tmp_path):
    folder = saved_model(tmp_path / "model", tmp_path / "unpickled")
    models = {"hybrid": {"tag": "reddit-reception:0", "family": "hybrid", "kind": "trained", "champion": True,
                         "thread_cv_roc_auc": 0.7}}
    bento_manifest.BentoManifest("reddit-reception-service:0", "reddit-reception:0", "0", "hybrid", models, {},
                                 {"hybrid": artifact_hashes.folder_hashes(folder)}).write(tmp_path / "bento.json")
    manifest = bento_manifest.read(tmp_path / "bento.json")
    manifest.check("hybrid", folder, tmp_path / "bento.json")
    change(folder, "python_model.pkl")
    with pytest.raises(ArtifactMismatch, match=r"model 'hybrid' \(reddit-reception:0\).*python_model.pkl: sha256"):
        manifest.check("hybrid", folder, tmp_path / "bento.json")


IMPORT = """
import sys, bentoml
bentoml.mlflow.import_model(sys.argv[1], sys.argv[2])
print(bentoml.models.get(sys.argv[1]).path_of("mlflow_model"))
"""
START = """
from service import service
try:
    service.RedditReception.inner()
except RuntimeError as error:
    print(type(error).__name__, error)
"""


def test_the_service_refuses_to_start_on_a_tampered_model_in_the_store(tmp_path):
    """A real BentoML store and the real service start-up: the store's copy of the model was changed after
    the bento stage hashed the folder it was imported from."""
    marker = tmp_path / "unpickled"
    source = saved_model(tmp_path / "model", marker)
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"),
           "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{tmp_path}{os.pathsep}{Path(__file__).parent}"}
    env.pop("RECEPTION_MODEL_URI", None)
    tag = "reddit-reception:0"
    stored = Path(subprocess.run([sys.executable, "-c", IMPORT, tag, str(source)], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip().splitlines()[-1])
    assert artifact_hashes.folder_hashes(stored) == artifact_hashes.folder_hashes(source)  # a plain copy
    shutil.copytree(REPO / "service", tmp_path / "service")
    shutil.copy(REPO / "params.yaml", tmp_path)
    models = {"hybrid": {"tag": tag, "family": "hybrid", "kind": "trained", "champion": True,
                         "thread_cv_roc_auc": 0.7}}
    bento_manifest.BentoManifest("reddit-reception-service:0", tag, "0", "hybrid", models, {},
                                 {"hybrid": artifact_hashes.folder_hashes(source)}).write(tmp_path / paths.BENTO_FILE)
    change(stored, "python_model.pkl")

    out = subprocess.run([sys.executable, "-c", START], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("ArtifactMismatch model 'hybrid' (reddit-reception:0)")
    assert "python_model.pkl: sha256" in out and "models/bento.json" in out
    assert not marker.exists()  # refused before anything in the folder was read


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A real sqlite store in tmp_path (the working directory, so models/registered.json is tmp_path's) with
    the data a holder comparison reads: the holder was trained on t0-t3, t4 and t5 arrived since; the holder
    (length) ranks their comments right, the challenger's out-of-fold scores wrong."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO_PARAMS, paths.PARAMS_FILE)
    frame = train_val()
    paths.LIVE_COMMENTS.parent.mkdir(parents=True)
    pd.DataFrame({"comment_id": frame["comment_id"], "body": ["x" * (5 + 10 * y) for y in frame["well_received"]]}
                 ).to_parquet(paths.LIVE_COMMENTS)
    paths.SILVER_COMMENTS.mkdir(parents=True)
    silver_comments(frame).to_parquet(paths.SILVER_COMMENTS / "part.0.parquet")
    paths.predictions_file("train", "hybrid").parent.mkdir(parents=True)
    pd.DataFrame({"comment_id": frame["comment_id"], "split": "thread_cv", "score": 1.0 - frame["well_received"]}
                 ).to_parquet(paths.predictions_file("train", "hybrid"))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run():
        champion_threads = tmp_path / champion.TRAINING_THREADS
        champion_threads.write_text(json.dumps(["t0", "t1", "t2", "t3"]))
        mlflow.log_artifact(str(champion_threads))
        mlflow.pyfunc.log_model(name="model", python_model=Tripwire(tmp_path / "unpickled"),
                                registered_model_name=NAME, pip_requirements=["mlflow"])
    client = MlflowClient()
    client.set_registered_model_alias(NAME, "champion", "1")
    client.set_model_version_tag(NAME, "1", champion.DECIDING_METRIC, "0.9")
    yield {"client": client, "frame": frame, "marker": tmp_path / "unpickled"}
    mlflow.set_tracking_uri(None)


def record_holder(tmp_path) -> dict[str, str]:
    """What `register` records in git for the version it registers: its files as the registry serves them."""
    files = artifact_hashes.folder_hashes(artifact_hashes.download_version(NAME, "1", tmp_path / "download"))
    artifact_hashes.record_version(paths.REGISTERED_MODELS, NAME, "1", "hybrid", files)
    return files


def holder_comparison(store) -> dict:
    current = champion.current_champion(store["client"], NAME, "champion")
    return champion.compare_with_holder(current, NAME, "hybrid", store["frame"], seed=0)


def test_a_recorded_holder_is_loaded_and_compared(store, tmp_path):
    files = record_holder(tmp_path)
    assert {"MLmodel", "python_model.pkl", "registered_model_meta"} <= set(files)
    assert holder_comparison(store)["comparison"]["holder_roc_auc"] == 1.0
    assert store["marker"].exists()


def test_a_holder_without_recorded_hashes_is_not_unpickled_and_the_rule_says_so(store):
    assert not paths.REGISTERED_MODELS.exists()
    assert holder_comparison(store) == {"fallback": "version 1 has no file hashes in models/registered.json "
                                                    "(registered elsewhere or before they were recorded), so it "
                                                    "was not loaded"}
    assert not store["marker"].exists()


def test_a_tampered_holder_stops_the_registration_before_it_is_unpickled(store, tmp_path):
    recorded = record_holder(tmp_path)
    [pickled] = [p for p in (tmp_path / "mlruns").rglob("python_model.pkl")]  # the store's copy
    change(pickled.parent, pickled.name)
    with pytest.raises(ArtifactMismatch) as refused:
        holder_comparison(store)
    message = str(refused.value)
    assert message.startswith(f"registered model {NAME} version 1 (")
    assert f"python_model.pkl: sha256 {recorded['python_model.pkl']} recorded, " \
           f"{artifact_hashes.file_sha256(pickled)} found" in message
    assert not store["marker"].exists()


def test_registered_versions_keep_each_others_records(tmp_path):
    registered = tmp_path / "registered.json"
    artifact_hashes.record_version(registered, NAME, "1", "hybrid", {"MLmodel": "a"})
    artifact_hashes.record_version(registered, NAME, "2", "thread_gbm", {"MLmodel": "b"})
    assert artifact_hashes.recorded_version(registered, NAME, "1") == {"family": "hybrid", "files": {"MLmodel": "a"}}
    assert artifact_hashes.recorded_version(registered, NAME, 2)["family"] == "thread_gbm"
    assert artifact_hashes.recorded_version(registered, NAME, "3") is None
    assert artifact_hashes.recorded_version(tmp_path / "absent.json", NAME, "1") is None


@pytest.mark.parametrize(("uri", "scheme"), [("https://alice:s3cret@mlflow.example.org:5000", "https"),
                                             ("sqlite:////home/alice/repo/mlflow.db", "sqlite"),
                                             ("/home/alice/repo/mlruns", "file")])
def test_the_registration_names_the_stores_scheme_never_its_uri(uri, scheme):
    assert registration.tracking_scheme(uri) == scheme


@pytest.mark.integration
def test_the_pipelines_models_are_recorded_and_no_uri_is_written(model_repo, pipeline_env, tmp_path):
    """After the real `dvc repro`: registration.json names no URI; the registered version's record matches
    what the registry serves; models/bento.json records every served model's folder as the store holds it."""
    text = (model_repo / paths.CHAMPION_DIR / "registration.json").read_text()
    assert "://" not in text and "tracking_uri" not in text and json.loads(text)["tracking_scheme"] == "sqlite"
    report = json.loads((model_repo / paths.REGISTER_METRICS).read_text())
    record = artifact_hashes.recorded_version(model_repo / paths.REGISTERED_MODELS, report["registered_name"],
                                              report["version"])
    assert record["family"] == report["family"] and "python_model.pkl" in record["files"]
    mlflow.set_tracking_uri(f"sqlite:///{model_repo / 'mlflow.db'}")
    try:
        served = artifact_hashes.download_version(report["registered_name"], report["version"], tmp_path)
    finally:
        mlflow.set_tracking_uri(None)
    assert artifact_hashes.folder_hashes(served) == record["files"]
    manifest = bento_manifest.read(model_repo / paths.BENTO_FILE)
    assert set(manifest.files) == set(manifest.models)
    store = Path(pipeline_env["BENTOML_HOME"]) / "models"
    for key, entry in manifest.models.items():
        name, version = entry["tag"].split(":")
        manifest.check(key, store / name / version / "mlflow_model", model_repo / paths.BENTO_FILE)
