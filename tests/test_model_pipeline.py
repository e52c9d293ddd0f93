"""embed -> baselines -> hpo -> train -> evaluate -> register: real `dvc repro` and a real MLflow store."""
import json
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from conftest import SMALL_HPO, run

pytestmark = pytest.mark.integration
FAMILIES = ["majority", "tfidf_logreg", "vader", "bert_nlptown", "bert_distilbert", "mlp_transformer"]
METRIC_KEYS = {"accuracy", "precision", "recall", "f1", "roc_auc", "mcc"}


def client_for(repo) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")


def test_embeddings_and_metadata(model_repo):
    meta = json.loads((model_repo / "data/embeddings/metadata.json").read_text())
    assert meta["weights_sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert meta["dimension"] == 384 and meta["device"] == "cpu"
    for split in ("train", "val", "test"):
        vectors = np.load(model_repo / f"data/embeddings/{split}.npy")
        rows = len(pd.read_parquet(model_repo / f"data/processed/sentiment_{split}.parquet"))
        assert vectors.shape == (rows, 384) == (meta["rows"][split], 384)


def test_every_family_has_nested_metrics_and_a_comparison_row(model_repo):
    for family in FAMILIES:
        report = json.loads((model_repo / f"metrics/{family}.json").read_text())
        if report["status"] == "ok":
            assert METRIC_KEYS <= set(report["val"]) and METRIC_KEYS <= set(report["test"])
            assert report["f1_gap"] == pytest.approx(report["val"]["f1"] - report["test"]["f1"])
        else:  # the hub is unreachable here: the row says so instead of inventing a score
            assert family.startswith("bert_") and "could not be loaded" in report["reason"]
    majority = json.loads((model_repo / "metrics/majority.json").read_text())
    assert majority["val"]["roc_auc"] == 0.5 and majority["val"]["predicted_positive_share"] in (0.0, 1.0)
    rows = json.loads((model_repo / "metrics/comparison.json").read_text())
    assert sorted(r["family"] for r in rows) == sorted(FAMILIES)
    ranked = [r["val_f1"] for r in rows if r["status"] == "ok"]
    assert ranked == sorted(ranked, reverse=True)
    assert "| majority |" in (model_repo / "metrics/comparison.md").read_text()
    for plot in ("roc_val", "roc_test", "pr_test", "confusion_test"):
        table = pd.read_csv(model_repo / f"metrics/plots/{plot}.csv")
        assert {"majority", "mlp_transformer"} <= set(table["family"])


def test_hpo_logs_a_parent_run_with_one_nested_run_per_trial(model_repo):
    client = client_for(model_repo)
    experiment = client.get_experiment_by_name("reddit-reception")
    parents = [r for r in client.search_runs([experiment.experiment_id],
                                             "attributes.run_name = 'mlp_transformer_embeddings_hpo'")
               if "dvc_exp_name" not in r.data.tags]  # the workspace run, not a queued experiment's
    assert len(parents) == 1
    trials = client.search_runs([experiment.experiment_id], f"tags.mlflow.parentRunId = '{parents[0].info.run_id}'")
    assert len(trials) == SMALL_HPO
    assert all("val_f1" in t.data.metrics and "alpha" in t.data.params for t in trials)
    best = json.loads((model_repo / "models/mlp/best_params.json").read_text())
    assert parents[0].data.metrics["best_val_f1"] == max(t.data.metrics["val_f1"] for t in trials)
    assert set(best) == {"hidden_layer_sizes", "alpha", "learning_rate_init", "batch_size", "max_iter"}
    assert "best_params.json" in [a.path for a in client.list_artifacts(parents[0].info.run_id)]


def test_registration_and_alias_follow_the_rule(model_repo):
    report = json.loads((model_repo / "metrics/register.json").read_text())
    client = client_for(model_repo)
    version = client.get_model_version("reddit-reception", report["version"])
    assert version.tags["alias_decision"] == report["reason"]
    rows = {r["family"]: r for r in json.loads((model_repo / "metrics/comparison.json").read_text())}
    best_baseline = max(r["val_f1"] for f, r in rows.items() if r["status"] == "ok" and f != "mlp_transformer")
    beats = rows["mlp_transformer"]["val_f1"] > best_baseline
    assert report["alias_set"] is beats
    aliases = client.get_registered_model("reddit-reception").aliases
    assert (str(aliases.get("champion")) == report["version"]) is beats
    run_artifacts = [a.path for a in client.list_artifacts(json.loads(
        (model_repo / "models/champion/registration.json").read_text())["mlflow_run_id"])]
    assert {"comparison.md", "comparison.json", "plots", "best_params.json"} <= set(run_artifacts)


def test_text_in_champion_predicts_what_the_stages_predicted(model_repo):
    """Raw bodies in: the exported model applies the shared cleaning and encoder itself."""
    val = pd.read_parquet(model_repo / "data/processed/sentiment_val.parquet", columns=["comment_id"]).head(40)
    raw = pd.read_parquet(model_repo / "data/interim/comments_clean_step1.parquet", columns=["comment_id", "body"])
    bodies = val.merge(raw, on="comment_id")
    stage = pd.read_parquet(model_repo / "data/predictions/mlp_transformer.parquet")
    expected = bodies.merge(stage[stage["split"] == "val"], on="comment_id")["score"].to_numpy()

    model = mlflow.pyfunc.load_model(str(model_repo / "models/champion"))
    out = model.predict(pd.DataFrame({"text": bodies["body"]}))
    np.testing.assert_allclose(out["score"].to_numpy(), expected, atol=1e-5)
    assert set(out["label"]) <= {"positive", "negative"}
    assert model.metadata.get_input_schema().input_names() == ["text"]

    version = json.loads((model_repo / "metrics/register.json").read_text())["version"]
    mlflow.set_tracking_uri(f"sqlite:///{model_repo / 'mlflow.db'}")
    registered = mlflow.pyfunc.load_model(f"models:/reddit-reception/{version}")
    np.testing.assert_allclose(registered.predict(pd.DataFrame({"text": bodies["body"]}))["score"], expected,
                               atol=1e-5)


def test_second_repro_is_a_no_op(model_repo, pipeline_env):
    result = run(["dvc", "repro"], model_repo, env=pipeline_env)
    assert "Running stage" not in result.stdout


def test_alias_refused_when_a_baseline_wins(model_repo, pipeline_env, tmp_path):
    """Run the register stage against a real store with a comparison where TF-IDF wins on val."""
    comparison = json.loads((model_repo / "metrics/comparison.json").read_text())
    for row in comparison:
        if row["family"] == "tfidf_logreg":
            row["val_f1"] = 0.999
    original = (model_repo / "metrics/comparison.json").read_text()
    store = f"sqlite:///{tmp_path / 'refusal.db'}"
    try:
        (model_repo / "metrics/comparison.json").write_text(json.dumps(comparison))
        run([sys.executable, "stages/register.py"], model_repo, env={"MLFLOW_TRACKING_URI": store})
        report = json.loads((model_repo / "metrics/register.json").read_text())
    finally:
        (model_repo / "metrics/comparison.json").write_text(original)
        run(["dvc", "repro", "register", "--force"], model_repo, env=pipeline_env)
        run(["dvc", "repro"], model_repo, env=pipeline_env)  # the bento follows the restored champion
    assert report["alias_set"] is False and "does not beat tfidf_logreg" in report["reason"]
    client = MlflowClient(tracking_uri=store)
    assert client.get_registered_model("reddit-reception").aliases == {}
    assert "does not beat" in client.get_model_version("reddit-reception", report["version"]).tags["alias_decision"]
