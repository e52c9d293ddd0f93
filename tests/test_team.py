"""Team set-up on loopback: a DVC remote on S3 (moto's server), an MLflow tracking server storing its
artifacts in the same S3, and the service loading the champion from that registry."""
import json
import sys

import boto3
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from conftest import BIN, SMALL_HPO, call, copy_built_repo, detailed_health, free_port, run, serving

pytestmark = pytest.mark.integration
BUCKET = "reddit-reception"
TEXTS = ["Thanks, this is exactly what I was looking for!", "Nobody asked.", "¿Y esto qué tiene que ver?"]
# Explicit times: without created_utc the hybrid reads the request's time, which moves between calls.
METADATA = [{"created_utc": 1762796919.0 + 60 * i, "post_created_utc": 1762795000.0, "is_top_level": i == 0}
            for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    log = tmp_path_factory.mktemp("logs") / "moto.log"
    with serving([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], tmp_path_factory.getbasetemp(),
                 env, url, log, ready="/moto-api/"):
        client = boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                              region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield {"url": url, "env": env, "client": client}


@pytest.fixture(scope="module")
def tracking_server(s3, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = tmp_path_factory.mktemp("tracking")
    command = [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
               "--artifacts-destination", f"s3://{BUCKET}/mlflow", "--host", "127.0.0.1", "--port", str(port)]
    env = {**s3["env"], "MLFLOW_S3_ENDPOINT_URL": s3["url"]}
    with serving(command, store, env, url, store / "server.log", ready="/health"):
        yield url


@pytest.fixture(scope="module")
def registered(model_repo, pipeline_env, tracking_server, tmp_path_factory) -> dict:
    """A copy of model_repo whose HPO and register ran against the tracking server: register's report, the
    copy, and the environment that points its runs at the server."""
    repo = copy_built_repo(model_repo, tmp_path_factory.mktemp("registered") / "repo")
    env = {**pipeline_env, "MLFLOW_TRACKING_URI": tracking_server}
    run([sys.executable, "stages/hpo.py", "mlp_transformer"], repo, env=env)
    run([sys.executable, "stages/register.py"], repo, env=env)
    return {"report": json.loads((repo / "metrics/register.json").read_text()), "repo": repo, "env": env}


def test_pipeline_logs_and_registers_on_the_tracking_server(registered, tracking_server, s3):
    report = registered["report"]
    client = MlflowClient(tracking_uri=tracking_server)
    experiment = client.get_experiment_by_name("reddit-reception")
    parent = client.search_runs([experiment.experiment_id], "attributes.run_name = 'mlp_transformer_hpo'")
    assert len(parent) == 1
    trials = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parent[0].info.run_id}'")
    assert len(trials) == SMALL_HPO
    version = client.get_model_version("reddit-reception", report["version"])
    assert version.tags["alias_decision"] == report["reason"]
    aliases = client.get_registered_model("reddit-reception").aliases
    assert (str(aliases.get("champion")) == report["version"]) is report["alias_set"]
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="mlflow/").get("Contents", [])]
    assert any(k.endswith("/MLmodel") for k in keys) and any(k.endswith("best_params.json") for k in keys)


def test_service_serves_the_champion_from_the_registry(registered, tmp_path):
    report = registered["report"]
    uri = f"models:/reddit-reception{'@champion' if report['alias_set'] else '/' + report['version']}"
    port = free_port()
    env = {**registered["env"], "RECEPTION_MODEL_URI": uri}
    command = [str(BIN / "bentoml"), "serve", "service.service:RedditReception", "--host", "127.0.0.1",
               "--port", str(port)]
    with serving(command, registered["repo"], env, f"http://127.0.0.1:{port}", tmp_path / "serve.log") as url:
        health = detailed_health(url)  # where the model came from is behind the health token
        status_batch, batch = call(f"{url}/api/v1/predict-batch", {"texts": TEXTS, "metadata": METADATA})
    assert health["champion"]["source"] == uri and health["champion"]["bento_model"] is None
    assert status_batch == 200
    requests = pd.DataFrame([{"text": t, **m} for t, m in zip(TEXTS, METADATA, strict=True)])
    mlflow.set_tracking_uri(registered["env"]["MLFLOW_TRACKING_URI"])
    try:
        expected = mlflow.pyfunc.load_model(uri).predict(requests)["score"]
    finally:  # the tracking URI is process-wide: leave the next test MLflow's default
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose([r["score"] for r in batch["results"]], expected, atol=1e-5)


def test_dvc_push_then_a_fresh_clone_pulls_and_is_up_to_date(own_model_repo, s3, tmp_path):
    model_repo, pipeline_env = own_model_repo
    env = {**pipeline_env, **s3["env"]}
    run(["dvc", "remote", "add", "--default", "team", f"s3://{BUCKET}/dvc"], model_repo)
    run(["dvc", "remote", "modify", "team", "endpointurl", s3["url"]], model_repo)
    run(["git", "add", "-A"], model_repo)
    run(["git", "commit", "-qm", "pipeline outputs and the team remote"], model_repo)
    pushed = run(["dvc", "push"], model_repo, env=env).stdout
    assert "pushed" in pushed

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(model_repo), str(clone)], tmp_path)
    run(["dvc", "pull"], clone, env=env)
    assert "up to date" in run(["dvc", "status"], clone, env=env).stdout
    assert "Running stage" not in run(["dvc", "repro"], clone, env=env).stdout
    for path in ("data/processed/test.parquet", "data/embeddings/val.npy", "models/champion/MLmodel"):
        assert (clone / path).read_bytes() == (model_repo / path).read_bytes()
