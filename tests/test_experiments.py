"""`dvc exp run --queue` runs stages in temporary copies of the repo; their MLflow runs must still land
in the main working tree's store, next to the workspace runs."""
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import GIT_ENV, REPO, SMALL_HPO, run

pytestmark = pytest.mark.integration
QUEUE_TIMEOUT_S = 600


def wait_for_queue(repo) -> str:
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    pytest.fail(f"dvc queue did not finish in {QUEUE_TIMEOUT_S} s:\n{status}")


def in_activated_venv(repo, commands: str, env: dict) -> subprocess.CompletedProcess:
    """`source .venv/bin/activate && <commands>` in bash, from a PATH that holds no virtualenv."""
    venv_bin = Path(sys.prefix) / "bin"
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    return subprocess.run(["bash", "-c", f"source .venv/bin/activate && {commands}"], cwd=repo, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV, **env, "PATH": path})


def test_the_readme_commands_work_in_an_activated_virtualenv(model_repo, pipeline_env):
    """As a user types them: activate the virtualenv once, then plain `dvc ...`. Before activation the
    PATH holds no virtualenv, so a stage that ran the system's python would fail."""
    (model_repo / ".venv").symlink_to(REPO / ".venv")
    try:
        tried = in_activated_venv(model_repo, "dvc exp run -S hpo.max_evals=1 -n documented-way", pipeline_env)
        shown = in_activated_venv(model_repo, "dvc metrics show --json", pipeline_env)
        # back to the fixture's params; DVC's run cache restores those outputs without fitting again
        restored = in_activated_venv(model_repo, f"dvc exp run -S hpo.max_evals={SMALL_HPO}", pipeline_env)
    finally:
        (model_repo / ".venv").unlink()
    assert tried.returncode == 0, tried.stdout[-3000:] + tried.stderr[-3000:]
    assert "Running stage 'hpo@mlp_transformer'" in tried.stdout
    [workspace] = json.loads(shown.stdout).values()  # dvc metrics show --json: {"": {"data": {path: ...}}}
    assert workspace["data"]["metrics/hpo/mlp_transformer.json"]["data"]["trials"] == 1
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]


def test_queued_experiment_logs_to_the_main_store(model_repo, pipeline_env):
    run(["dvc", "exp", "run", "--queue", "--allow-missing", "-S", "hpo.max_evals=2", "-n", "queued-small-hpo"],
        model_repo, env=pipeline_env)
    run(["dvc", "queue", "start"], model_repo, env=pipeline_env)
    status = wait_for_queue(model_repo)
    assert "Success" in status, status + run(["dvc", "queue", "logs", "queued-small-hpo"], model_repo).stdout

    client = MlflowClient(tracking_uri=f"sqlite:///{model_repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reddit-reception")
    queued = client.search_runs([experiment.experiment_id], "tags.dvc_exp_name = 'queued-small-hpo' and "
                                                            "attributes.run_name = 'mlp_transformer_hpo'")
    assert len(queued) == 1 and queued[0].data.params["max_evals"] == "2"
    trials = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{queued[0].info.run_id}'")
    assert len(trials) == 2
    assert not list(model_repo.glob(".dvc/tmp/exps/**/mlflow.db"))  # no stray store in the temp copy

    shown = json.loads(run(["dvc", "exp", "show", "--json"], model_repo).stdout)
    names = {e.get("name") for rev in shown for exp in rev.get("experiments") or [] for e in exp.get("revs") or []}
    assert "queued-small-hpo" in names
    # experiment (a_rev) against the workspace (b_rev), where the fixture ran SMALL_HPO trials
    diff = json.loads(run(["dvc", "metrics", "diff", "queued-small-hpo", "--json"], model_repo).stdout)
    trials = diff["metrics/hpo/mlp_transformer.json"]["trials"]
    assert trials["old"] == 2 and trials["new"] == SMALL_HPO


def test_parallel_sweep_keeps_every_run_and_a_sound_store(model_repo, pipeline_env):
    """`dvc queue start -j 2`: two experiments write to the one SQLite store at the same time."""
    run(["dvc", "exp", "run", "--queue", "--allow-missing", "-S", "hpo.max_evals=4,5"], model_repo, env=pipeline_env)
    run(["dvc", "queue", "start", "-j", "2"], model_repo, env=pipeline_env)
    status = wait_for_queue(model_repo)
    assert status.count("Success") >= 3 and "Failed" not in status, status

    client = MlflowClient(tracking_uri=f"sqlite:///{model_repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reddit-reception")
    parents = client.search_runs([experiment.experiment_id], "attributes.run_name = 'mlp_transformer_hpo'")
    by_evals = {p.data.params["max_evals"]: p for p in parents if "dvc_exp_name" in p.data.tags}
    for evals in ("4", "5"):
        trials = client.search_runs([experiment.experiment_id],
                                    f"tags.mlflow.parentRunId = '{by_evals[evals].info.run_id}'")
        assert len(trials) == int(evals) and all(t.info.status == "FINISHED" for t in trials)
    with sqlite3.connect(model_repo / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
