"""DVC experiments as the README and docs/experiments.md give them, on copies of model_repo. `dvc exp run
--queue` runs stages in temporary copies of the repo: their MLflow runs must still land in the main
working tree's store, next to the workspace runs.

Every experiment here changes `hpo.max_evals` and names its one stage, hpo@mlp_transformer: what follows
that stage is `dvc repro`'s business, which test_model_pipeline covers, and a whole pipeline per
experiment would cost minutes for nothing more.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import GIT_ENV, SMALL_HPO, run

pytestmark = pytest.mark.integration
QUEUE_TIMEOUT_S = 600
STAGE = "hpo@mlp_transformer"
HPO_METRICS = "metrics/hpo/mlp_transformer.json"


def wait_for_queue(repo) -> str:
    deadline = time.monotonic() + QUEUE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo).stdout
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(3)
    pytest.fail(f"dvc queue did not finish in {QUEUE_TIMEOUT_S} s:\n{status}")


def in_activated_venv(repo, commands: str, env: dict) -> subprocess.CompletedProcess:
    """`source .venv/bin/activate && <commands>` in bash, from a PATH that holds no virtualenv; fails the
    test with the output if it fails."""
    venv_bin = Path(sys.prefix) / "bin"
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    base = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # the copy's own store
    result = subprocess.run(["bash", "-c", f"source .venv/bin/activate && {commands}"], cwd=repo,
                            capture_output=True, text=True, env={**base, **GIT_ENV, **env, "PATH": path})
    assert result.returncode == 0, f"{commands}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def experiments(repo) -> dict[str, dict]:
    """`dvc exp show --json`: each named experiment's params.yaml values."""
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    return {rev["name"]: rev["data"]["params"]["params.yaml"]["data"]
            for commit in shown for experiment in commit.get("experiments") or []
            for rev in experiment.get("revs") or [] if rev.get("name")}


def hpo_runs(repo, where: str) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("reddit-reception")
    return client.search_runs([experiment.experiment_id], where)


def test_the_readme_commands_work_in_an_activated_virtualenv(own_model_repo):
    """As a user types them: activate the virtualenv once, then plain `dvc ...`. Before activation the
    PATH holds no virtualenv, so a stage that ran the system's python would fail."""
    repo, env = own_model_repo
    run(["git", "commit", "-qam", "the pipeline's metrics"], repo)  # as a user commits a `dvc repro`
    (repo / ".venv").symlink_to(sys.prefix)  # the virtualenv running these tests
    tried = in_activated_venv(repo, f"dvc exp run -S hpo.max_evals=1 -n documented-way {STAGE}", env)
    assert re.findall(r"Running stage '([^']+)'", tried.stdout) == [STAGE], tried.stdout[-3000:]
    assert experiments(repo)["documented-way"]["hpo"]["max_evals"] == 1

    # `dvc metrics diff`: the workspace, where the experiment ran, against the last commit.
    diff = json.loads(in_activated_venv(repo, "dvc metrics diff --json", env).stdout)
    assert diff[HPO_METRICS]["trials"] == {"old": SMALL_HPO, "new": 1, "diff": 1 - SMALL_HPO}
    changed = in_activated_venv(repo, "dvc exp show --only-changed --csv", env).stdout
    assert "documented-way" in changed and "hpo.max_evals" in changed

    in_activated_venv(repo, "dvc plots show", env)
    page = (repo / "dvc_plots" / "index.html").read_text()
    for title in ("Score (winsorised) distribution", "ROC curve (val and test)", "Reliability of P(well received)"):
        assert title in page  # the data stages' plots and the models


def test_queued_experiment_logs_to_the_main_store(own_model_repo):
    repo, env = own_model_repo
    run(["dvc", "exp", "run", "--queue", "-S", "hpo.max_evals=2", "-n", "queued-small-hpo", STAGE], repo, env=env)
    run(["dvc", "queue", "start"], repo, env=env)
    status = wait_for_queue(repo)
    assert "Success" in status, status + run(["dvc", "queue", "logs", "queued-small-hpo"], repo).stdout

    queued = hpo_runs(repo, "tags.dvc_exp_name = 'queued-small-hpo' and attributes.run_name = 'mlp_transformer_hpo'")
    assert len(queued) == 1 and queued[0].data.params["max_evals"] == "2"
    assert len(hpo_runs(repo, f"tags.mlflow.parentRunId = '{queued[0].info.run_id}'")) == 2
    assert not list(repo.glob(".dvc/tmp/exps/**/mlflow.db"))  # no stray store in the temp copy

    assert experiments(repo)["queued-small-hpo"]["hpo"]["max_evals"] == 2
    # experiment (a_rev) against the workspace (b_rev), where the fixture ran SMALL_HPO trials
    diff = json.loads(run(["dvc", "metrics", "diff", "queued-small-hpo", "--json"], repo).stdout)
    assert diff[HPO_METRICS]["trials"]["old"] == 2 and diff[HPO_METRICS]["trials"]["new"] == SMALL_HPO


def test_parallel_sweep_keeps_every_run_and_a_sound_store(own_model_repo):
    """`dvc queue start -j 2`: two experiments write to the one SQLite store at the same time."""
    repo, env = own_model_repo
    sweep = (2, 4)  # neither is SMALL_HPO, whose outputs DVC's run cache would restore without a run
    run(["dvc", "exp", "run", "--queue", "-S", f"hpo.max_evals={','.join(map(str, sweep))}", STAGE], repo, env=env)
    run(["dvc", "queue", "start", "-j", "2"], repo, env=env)
    status = wait_for_queue(repo)
    assert status.count("Success") == len(sweep) and "Failed" not in status, status

    parents = hpo_runs(repo, "attributes.run_name = 'mlp_transformer_hpo'")
    by_evals = {p.data.params["max_evals"]: p for p in parents if "dvc_exp_name" in p.data.tags}
    assert sorted(by_evals) == sorted(map(str, sweep))
    for evals, parent in by_evals.items():
        trials = hpo_runs(repo, f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        assert len(trials) == int(evals) and all(t.info.status == "FINISHED" for t in trials)
    with sqlite3.connect(repo / "mlflow.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
