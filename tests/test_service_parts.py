"""The service's parts without a server: its module imports with or without a bento manifest, the models it
declares to BentoML and what /health calls the default model."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reception.serving import bento_manifest, health
from reception.serving.model_store import RegistryUri

REPO = Path(__file__).resolve().parents[1]
# Imports service.service from a copy of the service's files; with "start", starts the service class as
# BentoML would (only without a manifest: with one it would load the models from the store).
START = """
import json, sys
from service import service
print(json.dumps(sorted(str(model.tag) for model in service.RedditReception.models)))
if sys.argv[1:] == ["start"]:
    try:
        service.RedditReception.inner()
    except RuntimeError as error:
        print(error)
"""


def start_copy(tmp_path: Path, manifest: dict | None) -> list[str]:
    """[declared model tags, start-up error without a manifest] of the service copied into tmp_path."""
    shutil.copytree(REPO / "service", tmp_path / "service")
    shutil.copy(REPO / "params.yaml", tmp_path)
    if manifest is not None:
        (tmp_path / "models").mkdir()
        (tmp_path / "models/bento.json").write_text(json.dumps(manifest))
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{tmp_path}"}
    env.pop("RECEPTION_MODEL_URI", None)
    start = ["start"] if manifest is None else []
    out = subprocess.run([sys.executable, "-c", START, *start], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return [json.loads(out[0]), *out[1:]]


def manifest(**models: bool) -> dict:
    """A manifest serving these families (True: the locked winner), under tags that are in no store."""
    return {"bento": "reddit-reception-service:0", "model": "reddit-reception:0", "champion_md5": "0",
            "family": next(key for key, winner in models.items() if winner),
            "models": {key: {"tag": "reddit-reception:0" if winner else f"reddit-reception-{key}:0", "family": key,
                             "kind": "trained", "champion": winner, "thread_cv_roc_auc": 0.7 - i / 10}
                       for i, (key, winner) in enumerate(models.items())},
            "unavailable": {}}


def test_the_service_imports_without_a_manifest_and_start_up_says_what_to_run(tmp_path):
    declared, error = start_copy(tmp_path, None)
    assert declared == []
    assert "models/bento.json is missing" in error and "dvc repro bento" in error and "make run" in error


def test_the_service_declares_every_model_the_manifest_names(tmp_path):
    declared, *_ = start_copy(tmp_path, manifest(hybrid=True, tfidf_logreg=False))
    assert declared == ["reddit-reception-tfidf_logreg:0", "reddit-reception:0"]


def test_manifest_serves_the_locked_winner_first_then_by_auc(tmp_path):
    written = manifest(tfidf_logreg=False, hybrid=True, mlp_transformer=False)
    bento_manifest.BentoManifest(**written).write(tmp_path / "bento.json")
    read = bento_manifest.read(tmp_path / "bento.json")
    assert list(read.served) == ["hybrid", "tfidf_logreg", "mlp_transformer"]
    assert bento_manifest.read(tmp_path / "absent.json") is None


@pytest.mark.parametrize(("registration", "words"), [
    ({"alias_set": True, "reason": "beats every baseline"}, "champion"),
    ({"alias_set": False, "reason": "hybrid 0.7276 does not beat timing (0.7306)"}, "locked winner"),
    ({}, "locked winner"),  # a model packaged before register recorded its decision
])
def test_health_names_the_default_model_for_what_the_registry_decided(registration, words):
    default = health.default_model(registration, "hybrid", "reddit-reception:0", "bento", "models:/r/8")
    assert default["served_as"] == words and default["alias_decision"] == registration.get("reason")


def test_registry_uri_by_alias_or_version():
    assert RegistryUri.parse("models:/reddit-reception@champion") == RegistryUri(
        "models:/reddit-reception@champion", "reddit-reception", "champion", None)
    assert RegistryUri.parse("models:/reddit-reception/8").version == "8"
    with pytest.raises(ValueError, match="not a registry URI"):
        RegistryUri.parse("runs:/abc/model")
