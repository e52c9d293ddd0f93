"""Fixtures that build a throw-away copy of this repository and run the real DVC pipeline in it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RAW = REPO / "data" / "sample" / "reddit"  # the 15-thread sample shipped in git: ingest.source's default
BIN = Path(sys.executable).parent
GIT_ENV = {"GIT_AUTHOR_NAME": "tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
           "GIT_COMMITTER_NAME": "tests", "GIT_COMMITTER_EMAIL": "tests@localhost"}


def run(cmd: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run a command of the project's virtualenv; fail the test with its output if it fails."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # each test picks its store
    env.update({**GIT_ENV, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **kwargs.pop("env", {})})
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def set_params(repo: Path, **sections) -> None:
    """Update params.yaml keys, e.g. set_params(repo, split={"strategy": "thread"})."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_repo(dest: Path) -> Path:
    """The files git would give a clean clone (tracked and untracked-not-ignored), as a fresh git repo."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-q", "-m", "copy"], dest)
    return dest


@pytest.fixture(scope="session")
def sample_raw() -> Path:
    if not SAMPLE_RAW.is_dir():
        pytest.fail(f"the sample shipped with the repository is missing: {SAMPLE_RAW}")
    return SAMPLE_RAW


@pytest.fixture(scope="session")
def data_repo(tmp_path_factory, sample_raw) -> Path:
    """A repo copy where `dvc repro eda` (all data stages) has run once on the shared sample."""
    repo = copy_repo(tmp_path_factory.mktemp("data_repo"))
    run(["dvc", "repro", "eda"], repo)
    return repo


SMALL_HPO = 3
# The nested searches run their trials inside every outer thread fold: two trials show the mechanism.
SMALL_NESTED = 2
# Fine-tuning on every row takes minutes per fit on CPU; the tests fit on a seeded sample of rows.
SMALL_FINETUNE = {"epochs": 1, "max_train_rows": 48, "device": "cpu"}


def small_nested(repo: Path) -> dict:
    """params.yaml's trained families with at most SMALL_NESTED nested trials each, for set_params."""
    trained = yaml.safe_load((repo / "params.yaml").read_text())["families"]["train"]
    return {"train": {name: {**family, "nested_evals": min(family["nested_evals"], SMALL_NESTED)}
                      if "nested_evals" in family else family for name, family in trained.items()}}


@pytest.fixture(scope="session")
def pipeline_env(tmp_path_factory) -> dict[str, str]:
    """Environment of pipeline runs in tests: a throw-away BentoML store, and the model hub offline.

    The zero-shot checkpoints live on the hub, which these machines cannot reach; offline mode makes
    their load fail at once (they become "unavailable") instead of after the hub client's retries.
    """
    return {"HF_HUB_OFFLINE": "1", "BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml_home"))}


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory, sample_raw, pipeline_env) -> Path:
    """A repo copy where the whole `dvc repro` has run, with a small HPO, small nested searches and a small
    fine-tuning, into the copy's own mlflow.db."""
    repo = copy_repo(tmp_path_factory.mktemp("model_repo"))
    set_params(repo, hpo={"max_evals": SMALL_HPO}, finetune=SMALL_FINETUNE, families=small_nested(repo))
    run(["git", "commit", "-qam", "small hpo and fine-tuning"], repo)
    run(["dvc", "repro"], repo, env=pipeline_env)
    return repo


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@contextmanager
def serving(command: list[str], cwd: Path, env: dict, url: str, log: Path, ready: str = "/readyz",
            timeout_s: int = 180):
    """Run a server process until the block ends; yields once GET url+ready answers 200."""
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{command[0]} exited:\n{log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command)} was not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url + ready, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:  # not listening yet, or not answering yet
                    time.sleep(1)
            yield url
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def service(model_repo, pipeline_env, tmp_path_factory):
    """The bento that `dvc repro` built in model_repo, served by a real `bentoml serve`."""
    bento = json.loads((model_repo / "models/bento.json").read_text())["bento"]
    port = free_port()
    log = tmp_path_factory.mktemp("logs") / "bentoml-serve.log"
    command = [str(BIN / "bentoml"), "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    with serving(command, model_repo, pipeline_env, f"http://127.0.0.1:{port}", log) as url:
        yield {"url": url, "repo": model_repo}
