"""Fixtures that build a throw-away copy of this repository and run the real DVC pipeline in it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
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
# The full corpus is too large for git: it lies beside the repository, where CI puts it.
CORPUS = REPO.parent / "shared" / "data" / "reddit-college"
BIN = Path(sys.executable).parent
GIT_ENV = {"GIT_AUTHOR_NAME": "tests", "GIT_AUTHOR_EMAIL": "tests@localhost",
           "GIT_COMMITTER_NAME": "tests", "GIT_COMMITTER_EMAIL": "tests@localhost"}


# The /health token of every server the tests start (the detailed view: paths, counters, errors).
HEALTH_TOKEN = "test-health-token"

# The integration tests that need none of these run no model stage: they make the middle tier, `-m data`.
MODEL_FIXTURES = {"model_repo", "own_model_repo", "service", "pipeline_env"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") and not MODEL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.data)


@pytest.fixture(autouse=True)
def process_state_put_back():
    """Every test runs in one process: what a test leaves in os.environ, the working directory or MLflow's
    process-wide tracking URI is put back after it, so no test passes or fails by what ran before it."""
    environ, cwd = dict(os.environ), os.getcwd()
    yield
    if dict(os.environ) != environ:
        os.environ.clear()
        os.environ.update(environ)
    os.chdir(cwd)
    if "mlflow" in sys.modules:  # imported by some tests only: its import costs seconds
        sys.modules["mlflow"].set_tracking_uri(None)


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


def copy_built_repo(built: Path, dest: Path) -> Path:
    """A full copy of a repo copy where stages have run (git history, DVC cache and outputs, MLflow store),
    for a test that changes it: the session fixtures stay as built for every other test.

    DVC's temporary folder (experiment queue, locks) is left behind. The store records absolute artifact
    paths: they are moved into the copy, so the copy's runs never write into the original.
    """
    def dvc_tmp(folder: str, names: list[str]) -> list[str]:
        return ["tmp"] if Path(folder) == built / ".dvc" else []

    shutil.copytree(built, dest, symlinks=True, ignore=dvc_tmp)
    if (dest / "mlflow.db").exists():
        with sqlite3.connect(dest / "mlflow.db") as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                for column in [info[1] for info in db.execute(f"PRAGMA table_info([{table}])")]:
                    db.execute(f"UPDATE [{table}] SET [{column}] = replace([{column}], ?, ?) "
                               f"WHERE typeof([{column}]) = 'text' AND instr([{column}], ?) > 0",
                               (str(built), str(dest), str(built)))
    return dest


@pytest.fixture(scope="session")
def sample_raw() -> Path:
    if not SAMPLE_RAW.is_dir():
        pytest.fail(f"the sample shipped with the repository is missing: {SAMPLE_RAW}")
    return SAMPLE_RAW


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus beside the repository; a test that needs it is skipped, saying where it looked, when it
    is absent (a checkout without ../shared), never passed without it."""
    if not CORPUS.is_dir():
        pytest.skip(f"needs the corpus beside the repository, and {CORPUS} is missing")
    return CORPUS


@pytest.fixture(scope="session")
def data_repo(tmp_path_factory, sample_raw) -> Path:
    """A repo copy where `dvc repro eda` (all data stages) has run once on the sample."""
    repo = copy_repo(tmp_path_factory.mktemp("data_repo"))
    run(["dvc", "repro", "eda"], repo)
    return repo


SMALL_HPO = 3
# Thread folds of the tests' pipeline: every thread-CV fit is repeated per fold (and per inner fold for the
# calibration and the nested search), so 3 instead of params.yaml's 5 nearly halves the trained stages
# (fine-tuning: 13 fits instead of 31). 3 is the fewest that nested search and per-fold calibration take.
SMALL_FOLDS = 3
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
    return {"HF_HUB_OFFLINE": "1", "BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml_home")),
            "RECEPTION_HEALTH_TOKEN": HEALTH_TOKEN}


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory, sample_raw, pipeline_env) -> Path:
    """A repo copy where the whole `dvc repro` has run, with a small HPO, small nested searches, 3 thread
    folds and a small fine-tuning, into the copy's own mlflow.db."""
    repo = copy_repo(tmp_path_factory.mktemp("model_repo"))
    set_params(repo, hpo={"max_evals": SMALL_HPO}, split={"thread_cv_folds": SMALL_FOLDS}, finetune=SMALL_FINETUNE,
               families=small_nested(repo))
    run(["git", "commit", "-qam", "small hpo, folds and fine-tuning"], repo)
    run(["dvc", "repro"], repo, env=pipeline_env)
    return repo


@pytest.fixture
def own_model_repo(model_repo, pipeline_env, tmp_path) -> tuple[Path, dict[str, str]]:
    """A copy of model_repo for a test that changes it, and the environment of its pipeline runs: a copy of
    the BentoML store too, so the bentos it builds stay out of the one the `service` fixture serves from."""
    home = Path(pipeline_env["BENTOML_HOME"])
    env = {**pipeline_env, "BENTOML_HOME": str(shutil.copytree(home, tmp_path / "bentoml_home", symlinks=True))}
    return copy_built_repo(model_repo, tmp_path / "repo"), env


def champion(repo: Path):
    """The declared family (reception.models.families.Family) of the model `register` locked in `repo`: the
    tests of the served model check what it reads, whichever family won."""
    from reception.models.families import declared

    family = json.loads((repo / "metrics/register.json").read_text())["family"]
    return declared(repo / "params.yaml")[family]


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


def detailed_health(url: str) -> dict:
    """/health's detailed view, with the tests' token."""
    request = urllib.request.Request(f"{url}/health", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


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


@pytest.fixture
def log_folder(tmp_path):
    """BentoML's default monitor writing under a fresh folder, as the service configures it."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.monitoring import api as bentoml_monitoring

    options = BentoMLContainer.config.monitoring.options.log_path
    before = options.get()
    options.set(str(tmp_path / "predictions"))
    bentoml_monitoring._MONITOR_INSTANCES.clear()  # monitors keep the folder they were created with
    yield tmp_path / "predictions"
    options.set(before)
    bentoml_monitoring._MONITOR_INSTANCES.clear()
