"""reception monitor: does the served champion still work? Drift, estimated and realized performance.

Why: the champion was chosen on its training data; new threads, a new caller or a change upstream can move
what it is asked about, and scores only become final a day or more after a comment is posted. This command
reads the service's prediction log (reception.serving.prediction_log) for a time window and compares it with two
references: the inputs with the processed train split and its sentence embeddings (what the model learnt
from), the score with the served model's own scores of the validation split (SCORE_REFERENCE_SPLIT: comments
it was not fitted on, so their scores are distributed as an unshifted stream's are). It writes, under
metrics/monitoring/:
  report.html            the whole picture for a person (NannyML's plots and the tables below)
  monitoring.json        per input: drift (max and latest Jensen-Shannon distance), share taken from defaults;
                         score drift; estimated ROC-AUC (CBPE); realized ROC-AUC, F1, ECE; the --check verdict
  drift.csv              distance per window and input (`dvc plots show`)
  estimated_roc_auc.csv  NannyML CBPE's ROC-AUC estimate per window with its confidence band (`dvc plots show`)
  realized.csv           per day: matured predictions, ROC-AUC, F1, ECE
The log is read from the files that may hold a record of the window (last written at or after its start); a
line that is not a whole record (a write cut short, a corrupt disk block) is skipped and counted. Rotated log
files last written more than `service.log_retention_days` ago are deleted first (prediction_log.expire_log_files).
Realized performance joins logged predictions with the final scores that extracted batches bring: NDJSON
comment lines with `observed_utc`, mature once observed `label.min_age_hours` after `created_utc`, labelled
with the training threshold (metrics/data.json). A prediction meets its comment's score only when it scored
that comment's text (the same comment_id and text_sha256 of the final body): a caller who sends a real
comment_id with another text cannot steer realized performance; such predictions are counted, not joined.
`--check` exits 1 and prints "retrain recommended" when realized ROC-AUC is below the champion's thread-CV
floor, or an input drifts past `monitoring.drift_threshold`, or the whole CBPE band of a window lies below
the floor.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from reception.data.features import API_INPUTS
from reception.data.splits import read_embeddings, read_split
from reception.models.evaluation import THRESHOLD, classification_metrics, expected_calibration_error
from reception.models.families import declared
from reception.params import all_params
from reception.paths import DATA_METRICS, METRICS_DIR, PARAMS_FILE, REGISTER_METRICS, family_metrics, predictions_file
from reception.serving.prediction_log import (
    MONITOR_NAME,
    TEXT_PROJECTION_DIM,
    expire_log_files,
    log_folder,
    log_retention_days,
    project,
    text_sha256,
)

# NannyML sends usage telemetry unless this is set (it is imported inside the functions below).
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

OUT_DIR = METRICS_DIR / "monitoring"
PROJECTION_INPUTS = tuple(f"text_projection_{i}" for i in range(TEXT_PROJECTION_DIM))
# The inputs whose drift is measured, as the model reads them; continuous ones are binned by NannyML.
CONTINUOUS_INPUTS = ("minutes_since_thread_start", "text_len", *PROJECTION_INPUTS)
CATEGORICAL_INPUTS = ("is_submitter", "is_top_level", "has_exclamation", "has_question")
# The score's reference: the served model's scores of this split, which it was not fitted on (train.py and
# finetune.py score val and test with the model they save). Not the out-of-fold thread-CV scores: those
# come from fits on four fifths of the threads each, a distribution the served model's scores do not share.
SCORE_REFERENCE_SPLIT = "val"
# A file's modification time may be rounded down (to 2 s on FAT): a file this close before the window is read.
MTIME_SLACK_S = 2.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", help="start of the window (ISO date/time, UTC); default: --until minus "
                                        "monitoring.window days")
    parser.add_argument("--until", help="end of the window (ISO date/time, UTC); default: now")
    parser.add_argument("--log-dir", type=Path, help="the prediction log folder; default: service.log_dir (a "
                                                     "relative one inside BENTOML_HOME, as the service reads it)")
    parser.add_argument("--outcomes", type=Path, help="folder of NDJSON comments with observed_utc (searched "
                                                      "recursively); default: <ingest.source>/comments")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"where the report goes (default: {OUT_DIR})")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 and print 'retrain recommended' when performance or drift crosses its limit")


def run(args: argparse.Namespace) -> int:
    params = all_params()
    settings = params["monitoring"]
    until = pd.Timestamp(args.until, tz="UTC") if args.until else pd.Timestamp.now(tz="UTC")
    since = pd.Timestamp(args.since, tz="UTC") if args.since else until - pd.Timedelta(days=settings["window"])
    log_dir = args.log_dir or log_folder(params["service"]["log_dir"])
    outcomes_dir = args.outcomes or Path(params["ingest"]["source"]) / "comments"
    min_age_hours = params["label"]["min_age_hours"]
    try:
        retention_days = log_retention_days(params["service"].get("log_retention_days"), settings["window"])
    except ValueError as error:
        raise SystemExit(f"reception monitor: {PARAMS_FILE}: {error}; nothing read or deleted") from None

    started = time.monotonic()
    champion = json.loads(REGISTER_METRICS.read_text())["family"]
    expired = expire_log_files(log_dir, retention_days)
    log, reading = read_log(log_dir, since, until)
    reading["files_deleted_expired"] = len(expired)
    served = log[log["model_key"] == champion] if len(log) else log
    print(f"monitor: {len(log)} logged predictions from {since} to {until}, {len(served)} by the champion "
          f"({champion}); {reading['files_read']} log files read, {reading['lines_skipped']} unreadable lines "
          f"skipped, {len(expired)} files older than {retention_days} days deleted")
    report = {"window": {"since": since.isoformat(), "until": until.isoformat(), "predictions": len(log),
                         "champion_predictions": len(served), "champion": champion}, "log": reading,
              "roc_auc_floor": roc_auc_floor(champion), "drift_threshold": settings["drift_threshold"]}
    args.out.mkdir(parents=True, exist_ok=True)
    figures = []
    if len(served):
        analysis, reference, scores = model_inputs(served), reference_frame(), score_reference(champion)
        inputs = [c for c in (*CONTINUOUS_INPUTS, *CATEGORICAL_INPUTS) if analysis[c].notna().any()]
        drift, drift_figures = drift_by_window(reference, scores, analysis, inputs, settings)
        estimate, estimate_figure = estimated_roc_auc(scores, analysis, settings)
        figures = [("Drift per input and window", drift_figures[0]), ("Score drift per window", drift_figures[1]),
                   ("Estimated ROC-AUC (CBPE)", estimate_figure)]
        report.update(drift_summary(drift, inputs), default_share=default_share(served),
                      estimated_roc_auc=estimate.to_dict("records"))
    else:
        drift = pd.DataFrame(columns=["window", "series", "distance", "rows", "alert"])
        estimate = pd.DataFrame(columns=["window", "rows", "roc_auc", "lower", "upper"])
    matured, join = join_outcomes(served, read_outcomes(outcomes_dir, min_age_hours), label_threshold())
    if join["text_mismatch"]:
        print(f"monitor: {join['text_mismatch']} predictions scored another text than their comment's final body: "
              "not joined to its score")
    realized = realized_by_day(matured)
    report["realized"] = {"matured_predictions": len(matured), "join": join, "per_day": realized.to_dict("records"),
                          **(realized_metrics(matured) if len(matured) else {})}
    reasons = retrain_reasons(report, drift, estimate, settings["min_chunk_rows"])
    report["check"] = {"retrain_recommended": bool(reasons), "reasons": reasons}

    drift.to_csv(args.out / "drift.csv", index=False)
    long_estimate(estimate).to_csv(args.out / "estimated_roc_auc.csv", index=False)
    realized.to_csv(args.out / "realized.csv", index=False)
    (args.out / "monitoring.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "report.html").write_text(render_html(report, figures))
    print(f"monitor: wrote {args.out}/report.html and monitoring.json in {time.monotonic() - started:.1f} s")
    if reasons:
        print("retrain recommended: " + "; ".join(reasons))
    else:
        print("no retraining needed: " + ("no champion prediction in the window" if not len(served) else
                                          "performance and drift within their limits"))
    return 1 if args.check and reasons else 0


def log_files(log_dir: Path, since: pd.Timestamp) -> tuple[list[Path], list[Path]]:
    """All workers' (rotated) log files: those that may hold a record from `since` on, and the others. A record
    is written after its request time, so a file last written before `since` holds none."""
    files = sorted((log_dir / MONITOR_NAME / "data").glob("data.*.log*"))
    recent = [f.stat().st_mtime >= since.timestamp() - MTIME_SLACK_S for f in files]
    return ([f for f, r in zip(files, recent, strict=True) if r],
            [f for f, r in zip(files, recent, strict=True) if not r])


def log_record(line: bytes) -> dict | None:
    """A log line as its record, or None for one that is not a whole record (cut short, corrupt)."""
    try:
        record = json.loads(line)
    except ValueError:  # malformed JSON or invalid UTF-8
        return None
    number = (int, float)
    if not isinstance(record, dict) or not isinstance(record.get("model_key"), str) or not all(
            isinstance(record.get(name), number) and not isinstance(record[name], bool)
            for name in ("request_time_utc", "score")):
        return None
    return record


def read_log(log_dir: Path, since: pd.Timestamp, until: pd.Timestamp) -> tuple[pd.DataFrame, dict]:
    """Every logged prediction with since <= request time < until, from the files that may hold one; and
    what was read: files read, files outside the window, unreadable lines skipped."""
    files, outside = log_files(log_dir, since)
    rows, skipped = [], 0
    start, end = since.timestamp(), until.timestamp()
    for path in files:
        with open(path, "rb") as lines:
            for line in lines:
                if not line.strip():
                    continue
                record = log_record(line)
                if record is None:
                    skipped += 1
                elif start <= record["request_time_utc"] < end:
                    rows.append(record)
    reading = {"files_read": len(files), "files_outside_window": len(outside), "lines_skipped": skipped}
    if not rows:
        return pd.DataFrame(columns=["request_time_utc", "model_key"]), reading
    log = pd.DataFrame.from_records(rows)
    return log.sort_values("request_time_utc", kind="stable").reset_index(drop=True), reading


def projection_columns(projected: np.ndarray | None, rows: int) -> dict[str, np.ndarray]:
    if projected is None:
        projected = np.full((rows, TEXT_PROJECTION_DIM), np.nan)
    return {name: projected[:, i] for i, name in enumerate(PROJECTION_INPUTS)}


def model_inputs(log: pd.DataFrame) -> pd.DataFrame:
    """The monitored inputs, score and time of logged predictions (one row each)."""
    vectors = log["text_projection"]
    projected = np.array(vectors.tolist(), dtype="float64") if vectors.notna().all() else None
    created, start = (pd.to_numeric(log.get(name), errors="coerce") for name in ("created_utc", "post_created_utc"))
    return pd.DataFrame({
        "timestamp": pd.to_datetime(log["request_time_utc"], unit="s"),
        "minutes_since_thread_start": ((created - start) / 60).clip(lower=0).to_numpy(dtype="float64"),
        "text_len": log["text_len"].to_numpy(dtype="float64"),
        **projection_columns(projected, len(log)),
        **{name: flag(log[name]) for name in CATEGORICAL_INPUTS},
        "score": log["score"].to_numpy(dtype="float64"),
        "y_pred": (log["score"] >= THRESHOLD).astype(int).to_numpy(),
    })


def flag(values: pd.Series) -> np.ndarray:
    """A boolean column as 0/1 (NaN where the model did not read it), so NannyML treats it as a category."""
    return values.map({True: 1.0, False: 0.0}).to_numpy(dtype="float64")


def reference_frame() -> pd.DataFrame:
    """The inputs' reference: the train split as the model read it."""
    train = read_split("train")
    minutes = (train["created_utc"].astype("float64") - train["thread_start_utc"].astype("float64")) / 60
    return pd.DataFrame({
        "timestamp": pd.to_datetime(train["created_utc"].astype("float64"), unit="s"),
        "minutes_since_thread_start": minutes.clip(lower=0).to_numpy(),
        "text_len": train["text_len"].to_numpy(dtype="float64"),
        **projection_columns(project(read_embeddings("train")), len(train)),
        **{name: flag(train[name].astype(bool)) for name in CATEGORICAL_INPUTS},
    })


def score_reference(champion: str) -> pd.DataFrame:
    """The score's reference (drift and CBPE): the served model's scores of SCORE_REFERENCE_SPLIT, with labels."""
    rows = read_split(SCORE_REFERENCE_SPLIT)
    scores = pd.read_parquet(predictions_file(declared()[champion].stage, champion))
    scores = scores[scores["split"] == SCORE_REFERENCE_SPLIT].set_index("comment_id")["score"]
    score = rows["comment_id"].map(scores).to_numpy(dtype="float64")
    if np.isnan(score).any():
        raise SystemExit(f"the champion ({champion}) has no {SCORE_REFERENCE_SPLIT} score for "
                         f"{int(np.isnan(score).sum())} comments: run `dvc repro` first")
    return pd.DataFrame({"timestamp": pd.to_datetime(rows["created_utc"].astype("float64"), unit="s"),
                         "score": score, "y_pred": (score >= THRESHOLD).astype(int),
                         "y_true": rows["well_received"].to_numpy()})


def drift_by_window(reference: pd.DataFrame, scores: pd.DataFrame, analysis: pd.DataFrame, inputs: list[str],
                    settings: dict) -> tuple[pd.DataFrame, list]:
    """Jensen-Shannon distance per window (chunk_period) of each input to `reference` and of the score to
    `scores`: long rows window, series, distance, rows, alert (distance above the threshold in a full window);
    and the two drift plots."""
    import nannyml as nml
    from nannyml.thresholds import ConstantThreshold

    long, figures = [], []
    for columns, fitted_on in ((inputs, reference), (["score"], scores)):
        calculator = nml.UnivariateDriftCalculator(
            column_names=columns, treat_as_categorical=[c for c in columns if c in CATEGORICAL_INPUTS],
            timestamp_column_name="timestamp", continuous_methods=["jensen_shannon"],
            categorical_methods=["jensen_shannon"], chunk_period=settings["chunk_period"],
            thresholds={"jensen_shannon": ConstantThreshold(lower=None, upper=settings["drift_threshold"])})
        result = calculator.fit(fitted_on).calculate(analysis[["timestamp", *columns]]).filter(period="analysis")
        table = result.to_df()
        rows = (table["chunk", "chunk", "end_index"] - table["chunk", "chunk", "start_index"] + 1).to_numpy()
        windows = table["chunk", "chunk", "start_date"].dt.strftime("%Y-%m-%dT%H:%M").to_numpy()
        long += [pd.DataFrame({"window": windows, "series": column,
                               "distance": table[column, "jensen_shannon", "value"].to_numpy(dtype="float64"),
                               "rows": rows}) for column in columns]
        figures.append(result.plot(kind="drift"))
    long = pd.concat(long, ignore_index=True)
    long["alert"] = (long["distance"] > settings["drift_threshold"]) & (long["rows"] >= settings["min_chunk_rows"])
    return long.round({"distance": 4}), figures


def drift_summary(drift: pd.DataFrame, inputs: list[str]) -> dict:
    def summary(series: str) -> dict:
        rows = drift[drift["series"] == series]
        return {"max": float(rows["distance"].max()), "latest": float(rows["distance"].iloc[-1]),
                "windows_alerted": int(rows["alert"].sum())}

    return {"drift": {name: summary(name) for name in inputs}, "score_drift": summary("score")}


def estimated_roc_auc(reference: pd.DataFrame, analysis: pd.DataFrame, settings: dict) -> tuple[pd.DataFrame, object]:
    """NannyML CBPE: ROC-AUC per window estimated from the scores alone, fitted (and calibrated) on the score
    reference's scores and labels (the served model's own); the band is NannyML's confidence boundary."""
    import nannyml as nml

    estimator = nml.CBPE(metrics=["roc_auc"], y_pred_proba="score", y_pred="y_pred", y_true="y_true",
                         problem_type="classification_binary", timestamp_column_name="timestamp",
                         chunk_period=settings["chunk_period"])
    result = estimator.fit(reference).estimate(analysis).filter(period="analysis")
    table = result.to_df()
    estimate = pd.DataFrame({
        "window": table["chunk", "start_date"].dt.strftime("%Y-%m-%dT%H:%M").to_numpy(),
        "rows": (table["chunk", "end_index"] - table["chunk", "start_index"] + 1).to_numpy(),
        "roc_auc": table["roc_auc", "value"].to_numpy(dtype="float64"),
        "lower": table["roc_auc", "lower_confidence_boundary"].to_numpy(dtype="float64"),
        "upper": table["roc_auc", "upper_confidence_boundary"].to_numpy(dtype="float64"),
    })
    return estimate.round(4), result.plot()


def long_estimate(estimate: pd.DataFrame) -> pd.DataFrame:
    """window, series (estimate / lower / upper), roc_auc: the shape `dvc plots show` draws as lines."""
    if not len(estimate):
        return pd.DataFrame(columns=["window", "series", "roc_auc"])
    parts = [estimate[["window", column]].rename(columns={column: "roc_auc"}).assign(series=name)
             for name, column in (("estimate", "roc_auc"), ("band lower", "lower"), ("band upper", "upper"))]
    return pd.concat(parts, ignore_index=True)[["window", "series", "roc_auc"]]


def default_share(log: pd.DataFrame) -> dict[str, float]:
    """Per API input the model read: the share of predictions where it took its default value."""
    shares = {}
    for name in API_INPUTS:
        source = log.get(f"{name}_source", pd.Series(dtype=object)).dropna()
        if len(source):
            shares[name] = round(float((source == "default").mean()), 4)
    return shares


def roc_auc_floor(family: str) -> float:
    """The lowest realized ROC-AUC the champion's thread CV vouches for: the lower end of its recorded
    interval, else the fold mean minus the fold spread."""
    roc_auc = json.loads(family_metrics(family).read_text())["thread_cv"]["roc_auc"]
    interval = roc_auc.get("interval")
    if isinstance(interval, dict):
        return float(interval.get("lower", interval.get("low")))
    if isinstance(interval, list | tuple):
        return float(interval[0])
    return float(roc_auc["mean"] - roc_auc["std"])


def label_threshold() -> float:
    """The training label rule's threshold: well received = final score >= this (metrics/data.json)."""
    return float(json.loads(DATA_METRICS.read_text())["label"]["threshold"])


def read_outcomes(folder: Path, min_age_hours: float) -> pd.DataFrame:
    """comment_id, final score, text_sha256 of its body then: per comment its latest observation made at least
    min_age_hours after it was posted. Lines without observed_utc (exports that did not record it) are never
    taken as mature."""
    rows = []
    for path in sorted(folder.rglob("*.ndjson")) if folder.is_dir() else []:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    item = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict) and {"comment_id", "score", "created_utc", "observed_utc"} <= item.keys():
                    body = item.get("body")
                    rows.append({**{k: item[k] for k in ("comment_id", "score", "created_utc", "observed_utc")},
                                 "text_sha256": text_sha256(body) if isinstance(body, str) else None})
    outcomes = pd.DataFrame(rows, columns=["comment_id", "score", "created_utc", "observed_utc", "text_sha256"])
    mature = outcomes[outcomes["observed_utc"] - outcomes["created_utc"] >= 3600 * min_age_hours]
    latest = mature.sort_values("observed_utc", kind="stable").drop_duplicates("comment_id", keep="last")
    return (latest[["comment_id", "score", "text_sha256"]].rename(columns={"score": "final_score"})
            .reset_index(drop=True))


def join_outcomes(log: pd.DataFrame, outcomes: pd.DataFrame, threshold: float) -> tuple[pd.DataFrame, dict]:
    """Logged predictions with their matured label (day, score, y_true): per comment the latest prediction
    of its final text (same comment_id, same text_sha256). And the count of predictions with a comment_id by
    what became of them: matched (one per comment), repeated (earlier predictions of a matched text),
    text_mismatch (another text than the comment's final body), no_matured_outcome (no final score yet)."""
    matured = pd.DataFrame(columns=["day", "score", "y_true"])
    join = dict.fromkeys(("predictions_with_comment_id", "matched", "repeated", "text_mismatch",
                          "no_matured_outcome"), 0)
    if not len(log) or "comment_id" not in log:
        return matured, join
    logged = log.dropna(subset=["comment_id"])
    final_text = logged["comment_id"].map(outcomes.set_index("comment_id")["text_sha256"])
    has_outcome = logged["comment_id"].isin(outcomes["comment_id"])
    logged_text = logged["text_sha256"] if "text_sha256" in logged else pd.Series(None, index=logged.index)
    same_text = has_outcome & (logged_text == final_text)
    kept = logged[same_text].drop_duplicates("comment_id", keep="last")
    join.update(predictions_with_comment_id=len(logged), matched=len(kept), repeated=int(same_text.sum()) - len(kept),
                text_mismatch=int((has_outcome & ~same_text).sum()), no_matured_outcome=int((~has_outcome).sum()))
    if not len(kept):
        return matured, join
    joined = kept.merge(outcomes[["comment_id", "final_score"]], on="comment_id", validate="one_to_one")
    return pd.DataFrame({"day": pd.to_datetime(joined["request_time_utc"], unit="s").dt.strftime("%Y-%m-%d"),
                         "score": joined["score"].astype("float64"),
                         "y_true": (joined["final_score"] >= threshold).astype(int)}), join


def realized_metrics(matured: pd.DataFrame) -> dict:
    scored = classification_metrics(matured["y_true"].to_numpy(), matured["score"].to_numpy())
    return {"rows": len(matured), "roc_auc": scored["roc_auc"], "f1": scored["f1"],
            "ece": expected_calibration_error(matured["y_true"], matured["score"])}


def realized_by_day(matured: pd.DataFrame) -> pd.DataFrame:
    rows = [{"day": day, **realized_metrics(group)} for day, group in matured.groupby("day", sort=True)]
    return pd.DataFrame(rows, columns=["day", "rows", "roc_auc", "f1", "ece"])


def retrain_reasons(report: dict, drift: pd.DataFrame, estimate: pd.DataFrame, min_rows: int) -> list[str]:
    floor, reasons = report["roc_auc_floor"], []
    realized = report["realized"]
    if realized.get("rows", 0) >= min_rows and realized["roc_auc"] < floor:
        reasons.append(f"realized ROC-AUC {realized['roc_auc']:.3f} on {realized['rows']} matured predictions is "
                       f"below the thread-CV floor {floor:.3f}")
    for row in drift[drift["alert"]].itertuples():
        reasons.append(f"{row.series} drifted in the window from {row.window} (Jensen-Shannon {row.distance:.3f} > "
                       f"{report['drift_threshold']})")
    for row in estimate[(estimate["upper"] < floor) & (estimate["rows"] >= min_rows)].itertuples():
        reasons.append(f"estimated ROC-AUC {row.roc_auc:.3f} (band {row.lower:.3f}-{row.upper:.3f}) in the window "
                       f"from {row.window} is below the thread-CV floor {floor:.3f}")
    return reasons


def render_html(report: dict, figures: list[tuple[str, object]]) -> str:
    verdict = "retrain recommended" if report["check"]["retrain_recommended"] else "no retraining needed"
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in report["check"]["reasons"])
    parts = [f"<h2>{html.escape(title)}</h2>" + figure.to_html(full_html=False, include_plotlyjs=i == 0)
             for i, (title, figure) in enumerate(figures)]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Reception monitoring</title></head><body>"
            f"<h1>Reception monitoring: {verdict}</h1><ul>{reasons}</ul>{''.join(parts)}"
            f"<h2>Metrics</h2><pre>{html.escape(json.dumps(report, indent=2, default=str))}</pre></body></html>\n")
