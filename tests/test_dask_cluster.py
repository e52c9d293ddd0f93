"""The data stages on a Dask cluster write what they write on the local scheduler, byte for byte.

A two-worker LocalCluster (separate processes, as a real cluster's workers are) stands in for a cluster; the
stages find it through DASK_SCHEDULER_ADDRESS, as they would a remote one (reception.data.dask_runtime).
"""
import hashlib
import os
from pathlib import Path

import pytest
import yaml

from conftest import copy_repo, run, set_params

pytestmark = [pytest.mark.integration, pytest.mark.data]
STAGES = ["ingest", "bronze", "silver", "interim", "processed"]
# Partitions of ~700 rows: the sample's 4,219 comments in several partitions, so that shuffles move rows
# between the workers and the split files are appended from several parts.
PARTITION_ROWS = 700


def stage_files(repo: Path) -> dict[str, str]:
    """sha256 of every file under the data stages' outs and of their metrics files (dvc.yaml), by path."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    listed = [next(iter(entry)) if isinstance(entry, dict) else entry
              for name in STAGES for entry in [*stages[name].get("outs", []), *stages[name].get("metrics", [])]]
    files = [f for path in listed for f in ([repo / path] if (repo / path).is_file()
                                             else sorted((repo / path).rglob("*")))]
    return {str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def run_stages(repo: Path, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """The stages' files' hashes and what they printed."""
    printed = "".join(run(["python", f"stages/{stage}.py"], repo, env=env).stdout for stage in STAGES)
    return stage_files(repo), printed


def test_the_data_stages_write_the_same_files_on_a_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, **{section: {"partition_rows": PARTITION_ROWS} for section in ("silver", "interim", "split")})
    # The stages and the workers import this copy's code, whatever is installed.
    os.environ["PYTHONPATH"] = str(repo / "src")
    local, _ = run_stages(repo, env={})
    assert len([path for path in local if path.startswith("data/interim/comments_live/")]) > 1
    assert "data/processed/train.parquet" in local and "metrics/data.json" in local
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        on_cluster, printed = run_stages(repo, env={"DASK_SCHEDULER_ADDRESS": cluster.scheduler_address})
    for stage in ("silver", "interim", "processed"):
        assert f"{stage}: on the Dask cluster at {cluster.scheduler_address} (2 workers)" in printed
    assert on_cluster == local
