"""register: log the winning trained family to MLflow as a text-in model and decide the alias.

Champion rule (the README states it too). The deciding metric is thread_cv ROC-AUC (mean over the
thread folds): users score comments of threads the model has never seen. A family is eligible only if
it predicts each class for at least MIN_CLASS_SHARE of the comments, on val and across the thread folds,
so that no family wins by answering one class. The winner is the eligible trained family with the best
deciding metric. It gets the alias only if it beats every available baseline on that metric and is not
worse than the version holding the alias now (so a weaker queued experiment cannot take it); otherwise
the version is tagged with why not. The holder and the winner are compared on the same comments, neither
trained on: those of the threads that arrived since the holder was trained (reception.models.champion; each
version records its training threads for this). Where there are none, or the holder recorded none, the
rule falls back to the holder's deciding metric, computed on the data it was trained on, and says so.
The embedding families ship their encoder as an ONNX export of the hash-checked weights (faster on CPU);
it must reproduce the training embeddings of the val split within EXPORT_TOLERANCE.
Also exports the model as the self-contained folder models/champion/ (DVC-tracked, locked in dvc.lock),
every other trained family that trained as models/served/<family>/ (the same packaging, not registered:
the service serves each by its key), and writes metrics/register.json (name, version, alias decision with
the holder comparison, encoder export error); registration.json adds the training threads.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from reception.data.features import training_defaults
from reception.data.splits import read_embeddings, read_split
from reception.models import onnx_encoder, tracking
from reception.models.champion import challenger_scores, paired_comparison, requests, training_threads, unseen_rows
from reception.models.encoder import resolve_model_dir
from reception.models.families import Family, declared
from reception.outputs import fresh_dir, write_json
from reception.params import load_params
from reception.paths import (
    CHAMPION_DIR,
    COMPARISON_JSON,
    COMPARISON_MD,
    EMBEDDINGS_METADATA,
    LIVE_COMMENTS,
    MODEL_FILE,
    PLOTS_DIR,
    REGISTER_METRICS,
    SERVED_DIR,
    best_params_file,
    classifier_file,
    family_dir,
    predictions_file,
)
from reception.serving.registered_model import model_kwargs, write_config

DECIDING_METRIC, MIN_CLASS_SHARE = "thread_cv_roc_auc_mean", 0.05
EXPORT_TOLERANCE = 1e-4  # float32 rounding differs between runtimes; measured ~4e-7
TRAINING_THREADS = "training_threads.json"  # the run artifact listing the post_ids the version was trained on
NAMED_THREADS = 10  # thread ids a reason names before pointing at registration.json for the rest


def single_class(row: dict) -> str | None:
    """Why the family answers (almost) one class, or None."""
    for where in ("val", "thread_cv"):
        share = row[f"{where}_predicted_positive_share"]
        if not MIN_CLASS_SHARE <= share <= 1 - MIN_CLASS_SHARE:
            return f"{row['family']} predicts positive for {share:.1%} of {where} comments (a single class)"
    return None


def pick_winner(rows: list[dict]) -> dict:
    trained = [r for r in rows if r["kind"] == "trained" and r["status"] == "ok"]
    return max(trained, key=lambda r: (single_class(r) is None, r[DECIDING_METRIC]))


def alias_decision(rows: list[dict], winner: dict, current: dict | None = None) -> tuple[bool, str]:
    """(set the alias?, why). `current`: the version holding the alias now, with its deciding metric and
    either `comparison` (paired_comparison of both on the same unseen rows) or `fallback` (why there is none)."""
    name, score = winner["family"], winner[DECIDING_METRIC]
    baselines = [r for r in rows if r["status"] == "ok" and r["kind"] == "baseline"]
    best = max(baselines, key=lambda r: r[DECIDING_METRIC])
    if reason := single_class(winner):
        return False, reason
    if score <= best[DECIDING_METRIC]:
        return False, f"{name} {DECIDING_METRIC} {score} does not beat {best['family']} ({best[DECIDING_METRIC]})"
    beats = f"{name} {DECIDING_METRIC} {score} beats every baseline (best: {best['family']} {best[DECIDING_METRIC]})"
    if current is None:
        return True, beats
    if (shared := current.get("comparison")) is not None:
        mine, theirs, on = shared["challenger_roc_auc"], shared["holder_roc_auc"], shared_rows(shared, current)
        if mine < theirs:
            return False, (f"{name} ROC-AUC {mine} is below the current champion "
                           f"(version {current['version']}, {theirs}) {on}")
        return True, (f"{beats}; its ROC-AUC {mine} is not below the current champion's "
                      f"(version {current['version']}, {theirs}) {on}")
    different = f"compared on metrics of different data: {current.get('fallback', 'no same-data comparison')}"
    if score < current["metric"]:
        return False, (f"{name} {DECIDING_METRIC} {score} is below the current champion "
                       f"(version {current['version']}, {current['metric']}); {different}")
    return True, (f"{beats}; not below the current champion (version {current['version']}, "
                  f"{current['metric']}); {different}")


def shared_rows(comparison: dict, current: dict) -> str:
    """The rows both models were scored on, in words: counts, the interval of the difference, thread ids."""
    threads, interval = comparison["threads"], comparison["difference_interval"]
    named = ", ".join(threads[:NAMED_THREADS])
    rest = len(threads) - NAMED_THREADS
    more = f" and {rest} more, listed in registration.json" if rest > 0 else ""
    return (f"on the same {comparison['rows']} comments of {len(threads)} threads that arrived since version "
            f"{current['version']} was trained (difference {interval['level']:.0%} interval over threads "
            f"{interval['low']} to {interval['high']}; threads: {named}{more})")


def current_champion(client, name: str, alias: str) -> dict | None:
    """The version holding the alias now: its number, deciding metric and the threads it was trained on
    (None for a version registered before it recorded them)."""
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no such model or alias yet
        return None
    # A version registered before this rule has no such tag: nan never blocks the new winner.
    return {"version": str(version.version), "metric": float(version.tags.get(DECIDING_METRIC, "nan")),
            "threads": recorded_threads(client, version.run_id)}


def recorded_threads(client, run_id: str | None) -> set[str] | None:
    """The training threads a registering run logged, or None where it logged none (an older version)."""
    if not run_id or TRAINING_THREADS not in [a.path for a in client.list_artifacts(run_id)]:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return set(json.loads(Path(client.download_artifacts(run_id, TRAINING_THREADS, tmp)).read_text()))


def holder_scores(name: str, version: str, records: list[dict]) -> np.ndarray:
    """The registered version's scores of raw-text requests, loaded from the registry as a client would."""
    import mlflow

    scorer = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    return np.array([scored.score for scored in scorer.score_records(records)], dtype="float64")


def compare_with_holder(current: dict, name: str, family: str, train_val: pd.DataFrame, seed: int) -> dict:
    """{"comparison": ...} of the winner and the holder on the rows of threads the holder was not trained
    on, or {"fallback": why there is no such comparison}."""
    if current["threads"] is None:
        return {"fallback": f"version {current['version']} recorded no training threads"}
    rows = unseen_rows(train_val, current["threads"])
    if rows.empty:
        return {"fallback": f"no thread has arrived since version {current['version']} was trained"}
    challenger = challenger_scores(rows, pd.read_parquet(predictions_file(declared()[family].stage, family)))
    records = requests(rows, pd.read_parquet(LIVE_COMMENTS, columns=["comment_id", "body"]))
    comparison = paired_comparison(rows["well_received"].to_numpy(), challenger,
                                          holder_scores(name, current["version"], records),
                                          rows["post_id"].to_numpy(), seed)
    if comparison is None:
        return {"fallback": f"the {len(rows)} comments of the new threads hold one class only"}
    return {"comparison": comparison}


class ExportedEncoder:
    """The ONNX export of the training encoder, made and checked against the val embeddings at most once
    per run: every embedding family (the champion and the served ones) packages the same bytes."""

    def __init__(self, embed: dict, folder: Path) -> None:
        self.embed, self.folder, self.error = embed, folder, None

    def __call__(self) -> tuple[Path, float]:
        """(the export's folder, its largest deviation from the val embeddings)."""
        if self.error is None:
            onnx_encoder.export(resolve_model_dir(self.embed["model"]), self.embed["weights_sha256"], self.folder)
            self.error = onnx_encoder.reproduction_error(
                onnx_encoder.OnnxEncoder(self.folder), read_split("val")["clean_text"].tolist(),
                read_embeddings("val"), self.embed["batch_size"])
            if self.error > EXPORT_TOLERANCE:
                raise onnx_encoder.EncoderExportMismatch(
                    f"the ONNX encoder differs from the training embeddings by {self.error:.2e} "
                    f"(tolerance {EXPORT_TOLERANCE})")
        return self.folder, self.error


def model_files(family: Family, config_dir: Path, encoder: ExportedEncoder) -> tuple[dict, Path, dict]:
    """(artifacts, config file, params to log) of a trained family."""
    embed = encoder.embed
    if family.kind == "baseline":  # a text pipeline the baselines stage kept (tfidf_logreg)
        config = write_config(config_dir / "config.json", family.name, embed["batch_size"], text_pipeline=True)
        return {"classifier": family_dir(family.stage, family.name) / MODEL_FILE}, config, {"family": family.name}
    if family.stage == "finetune":
        config = write_config(config_dir / "config.json", family.name, embed["batch_size"], finetuned=True)
        return {"finetuned": family_dir(family.stage, family.name)}, config, {"family": family.name}
    encoder_dir, export_error = encoder()
    defaults = training_defaults(read_split("train")) if family.uses_metadata else None
    config = write_config(config_dir / "config.json", family.name, embed["batch_size"], defaults)
    best = json.loads(best_params_file(family.name).read_text())
    return ({"encoder": encoder_dir, "classifier": classifier_file(family.name)},
            config, {"family": family.name, "embedding_model": embed["model"], "best_params": json.dumps(best),
                     "metadata_defaults": json.dumps(defaults), "encoder_backend": "onnxruntime",
                     "encoder_export_max_abs_error": f"{export_error:.1e}"})


def servable(row: dict, family: Family) -> bool:
    """A family that scored here and has a model to serve: every trained one, and a baseline the
    baselines stage kept (tfidf_logreg)."""
    return row["status"] == "ok" and (family.kind == "trained" or (family_dir(family.stage, family.name) /
                                                                     MODEL_FILE).is_file())


def save_served(rows: list[dict], champion: str, families: dict[str, Family], encoder: ExportedEncoder) -> None:
    """Every other servable family, as a self-contained folder like the champion's."""
    import mlflow

    fresh_dir(SERVED_DIR)
    for row in rows:
        if row["family"] == champion or not servable(row, families[row["family"]]):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            artifacts, config, _ = model_files(families[row["family"]], Path(tmp), encoder)
            mlflow.pyfunc.save_model(path=str(SERVED_DIR / row["family"]), **model_kwargs(artifacts, config))


def register(params: dict, rows: list[dict], winner: dict, families: dict[str, Family], encoder: ExportedEncoder,
             train_val: pd.DataFrame, mlflow, tags: dict) -> tuple[dict, list[str]]:
    """Logs and registers the winner, decides the alias, saves models/champion/; returns the report and the
    training threads."""
    threads = training_threads(train_val)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_name=f"register_{winner['family']}",
                                                                tags=tags) as run:
        artifacts, config, logged = model_files(families[winner["family"]], Path(tmp), encoder)
        kwargs = model_kwargs(artifacts, config)
        mlflow.log_params(logged)
        mlflow.log_metrics({k: v for k, v in winner.items() if isinstance(v, float)})
        write_json(Path(tmp) / TRAINING_THREADS, threads)
        for artifact in (COMPARISON_JSON, COMPARISON_MD, Path(tmp) / TRAINING_THREADS):
            mlflow.log_artifact(str(artifact))
        mlflow.log_artifacts(str(PLOTS_DIR), "plots")
        client = mlflow.MlflowClient()
        # Before log_model registers the winner: the holder is the version with the alias now.
        current = current_champion(client, params["name"], params["alias"])
        if current is not None:
            current.update(compare_with_holder(current, params["name"], winner["family"], train_val,
                                               params["base"]["seed"]))
        info = mlflow.pyfunc.log_model(name="model", registered_model_name=params["name"], **kwargs)
        version = str(info.registered_model_version)
        champion, reason = alias_decision(rows, winner, current)
        for tag, value in {DECIDING_METRIC: str(winner[DECIDING_METRIC]), "family": winner["family"],
                           "training_threads": str(len(threads)), "alias_decision": reason, **tags}.items():
            client.set_model_version_tag(params["name"], version, tag, value)
        if champion:
            client.set_registered_model_alias(params["name"], params["alias"], version)
        fresh_dir(CHAMPION_DIR).rmdir()  # save_model wants to create the folder itself
        mlflow.pyfunc.save_model(path=str(CHAMPION_DIR), **kwargs)
        run_id = run.info.run_id

    # The version that held the alias, and the same-data comparison with it or why there is none.
    held = {key: (current or {}).get(key) for key in ("version", "comparison", "fallback")}
    report = {"registered_name": params["name"], "version": version, "family": winner["family"],
              "deciding_metric": DECIDING_METRIC, "alias": params["alias"] if champion else None,
              "alias_set": champion, "reason": reason, "training_thread_count": len(threads), "holder": held,
              "mlflow_run_id": run_id, "tracking_uri": tracking.tracking_uri(),
              **{k: logged[k] for k in ("encoder_backend", "encoder_export_max_abs_error") if k in logged}}
    return report, threads


def main() -> None:
    params = load_params("register")
    rows = json.loads(COMPARISON_JSON.read_text())
    winner = pick_winner(rows)
    train_val = pd.concat([read_split("train"), read_split("val")], ignore_index=True)
    families = declared()
    mlflow = tracking.setup(params["base"]["mlflow_experiment"])
    tags = tracking.run_tags()
    with tempfile.TemporaryDirectory() as export_dir:
        encoder = ExportedEncoder(json.loads(EMBEDDINGS_METADATA.read_text()), Path(export_dir) / "encoder")
        report, threads = register(params, rows, winner, families, encoder, train_val, mlflow, tags)
        save_served(rows, winner["family"], families, encoder)
    write_json(REGISTER_METRICS, {k: v for k, v in report.items() if k not in ("mlflow_run_id", "tracking_uri")})
    write_json(CHAMPION_DIR / "registration.json", {**report, "training_threads": threads})
    print(COMPARISON_MD.read_text())
    print(f"winner: {winner['family']} ({DECIDING_METRIC} {winner[DECIDING_METRIC]}, test F1 {winner['test_f1']}, "
          f"test AUC {winner['test_roc_auc']})")
    print(f"registered: {params['name']} version {report['version']}; alias '{params['alias']}' "
          f"{'set' if report['alias_set'] else 'NOT set'}: {report['reason']}")


if __name__ == "__main__":
    main()
