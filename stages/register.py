"""register: log the winning trained family to MLflow as a text-in model and decide the alias.

Winner: the trained family with the best val F1. It gets the alias only if it predicts both classes on
val, beats every available baseline on val F1 and is not worse than the version holding the alias now
(so a weaker queued experiment cannot take it); otherwise the version is tagged with why not.
Also exports the model as the self-contained folder models/champion/ (DVC-tracked, locked in dvc.lock)
and writes metrics/register.json (name, version, alias decision).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from reception import tracking
from reception.encoder import resolve_model_dir
from reception.io import fresh_dir, load_params, write_json
from reception.pyfunc import model_kwargs, write_config

COMPARISON_FILE = Path("metrics/comparison.json")
TRAINED = {"mlp_transformer": {"classifier": Path("models/mlp/classifier.joblib"),
                               "params": Path("models/mlp/best_params.json")}}
EMBED_METADATA = Path("data/embeddings/metadata.json")
CHAMPION_DIR, REPORT_FILE = Path("models/champion"), Path("metrics/register.json")


def alias_decision(rows: list[dict], winner: dict, current: dict | None = None) -> tuple[bool, str]:
    """(set the alias?, why). `current`: the version holding the alias now, with its val_f1, if any."""
    baselines = [r for r in rows if r["status"] == "ok" and r["family"] not in TRAINED]
    best = max(baselines, key=lambda r: r["val_f1"])
    if not 0 < winner["val_predicted_positive_share"] < 1:
        return False, f"{winner['family']} predicts a single class on val"
    if winner["val_f1"] <= best["val_f1"]:
        return False, f"{winner['family']} val F1 {winner['val_f1']} does not beat {best['family']} ({best['val_f1']})"
    if current is not None and winner["val_f1"] < current["val_f1"]:
        return False, (f"{winner['family']} val F1 {winner['val_f1']} is below the current champion "
                       f"(version {current['version']}, val F1 {current['val_f1']})")
    return True, f"{winner['family']} val F1 {winner['val_f1']} beats every baseline (best: {best['family']} {best['val_f1']})"


def current_champion(client, name: str, alias: str) -> dict | None:
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such model or alias yet
        return None
    return {"version": version.version, "val_f1": float(version.tags.get("val_f1", "nan"))}


def main() -> None:
    params = load_params("register")
    rows = json.loads(COMPARISON_FILE.read_text())
    winner = max((r for r in rows if r["family"] in TRAINED and r["status"] == "ok"), key=lambda r: r["val_f1"])
    embed = json.loads(EMBED_METADATA.read_text())
    files = TRAINED[winner["family"]]

    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    tags = tracking.run_tags()
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"register_{winner['family']}",
                                                                tags=tags) as run:
        config = write_config(Path(tmp) / "config.json", embed["weights_sha256"], embed["batch_size"])
        kwargs = model_kwargs(resolve_model_dir(embed["model"]), files["classifier"], config)
        mlflow.log_params({"family": winner["family"], "embedding_model": embed["model"],
                           **{f"mlp_{k}": v for k, v in json.loads(files["params"].read_text()).items()}})
        mlflow.log_metrics({k: v for k, v in winner.items() if isinstance(v, float)})
        for artifact in ("metrics/comparison.json", "metrics/comparison.md", str(files["params"])):
            mlflow.log_artifact(artifact)
        mlflow.log_artifacts("metrics/plots", "plots")
        info = mlflow.pyfunc.log_model(name="model", registered_model_name=params["name"], **kwargs)
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient()
        champion, reason = alias_decision(rows, winner, current_champion(client, params["name"], params["alias"]))
        for tag, value in {"val_f1": str(winner["val_f1"]), "alias_decision": reason, **tags}.items():
            client.set_model_version_tag(params["name"], version, tag, value)
        if champion:
            client.set_registered_model_alias(params["name"], params["alias"], version)
        fresh_dir(CHAMPION_DIR).rmdir()  # save_model wants to create the folder itself
        mlflow.pyfunc.save_model(path=str(CHAMPION_DIR), **kwargs)
        run_id = run.info.run_id

    report = {"registered_name": params["name"], "version": version, "family": winner["family"],
              "alias": params["alias"] if champion else None, "alias_set": champion, "reason": reason,
              "mlflow_run_id": run_id, "tracking_uri": tracking.tracking_uri()}
    write_json(REPORT_FILE, {k: v for k, v in report.items() if k not in ("mlflow_run_id", "tracking_uri")})
    write_json(CHAMPION_DIR / "registration.json", report)
    print(Path("metrics/comparison.md").read_text())
    print(f"winner: {winner['family']} (val F1 {winner['val_f1']}, test F1 {winner['test_f1']}, "
          f"test AUC {winner['test_roc_auc']})")
    print(f"registered: {params['name']} version {version}; alias '{params['alias']}' "
          f"{'set' if champion else 'NOT set'}: {reason}")


if __name__ == "__main__":
    main()
