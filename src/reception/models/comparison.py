"""What evaluate writes: each family's report (the same metrics on val, test and unseen threads), the plot
tables, the comparison rows (sorted by the champion rule's metric) and the comparison markdown.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from reception.models.evaluation import THRESHOLD, classification_metrics, reliability_table, thread_cv_quality
from reception.models.families import Family
from reception.paths import predictions_file, status_file

SPLITS = ("val", "test")
CV_METRICS = ("roc_auc", "f1", "accuracy", "predicted_positive_share")


def load_families(declared_families: dict[str, Family]) -> dict[str, dict]:
    """Per declared family: its kind, status ("ok" or "unavailable" with the reason) and predictions file."""
    families = {}
    for name, family in declared_families.items():
        file = predictions_file(family.stage, name)
        stage_status = status_file(family.stage)
        info = json.loads(stage_status.read_text()).get(name, {}) if stage_status.is_file() else {}
        if file.is_file():
            info = {"model": name, **info, "status": "ok"}
        elif info.get("status") != "unavailable":
            raise SystemExit(f"evaluate: {name} has neither {file} nor a reason in {stage_status}: "
                             f"re-run `dvc repro` for its stage")
        families[name] = {**info, "kind": family.kind, "file": file}
    return families


def curves(family: str, split: str, y: np.ndarray, score: np.ndarray) -> dict[str, pd.DataFrame]:
    fpr, tpr, _ = roc_curve(y, score)
    precision, recall, _ = precision_recall_curve(y, score)
    return {
        "roc": pd.DataFrame({"family": family, "fpr": fpr.round(4), "tpr": tpr.round(4)}).drop_duplicates(),
        "pr": pd.DataFrame({"family": family, "recall": recall.round(4),
                            "precision": precision.round(4)}).drop_duplicates(),
        "confusion": pd.DataFrame({"family": family, "actual": y, "predicted": (score >= THRESHOLD).astype(int)}),
    }


def thread_cv_report(labels: pd.DataFrame, predictions: pd.DataFrame, family: str, seed: int) -> tuple[dict,
                                                                                                   pd.DataFrame]:
    """Per-fold metrics of the out-of-fold scores, their mean and std over the folds, and the views of
    thread_cv_quality; and the reliability table of those scores."""
    merged = labels.merge(predictions[predictions["split"] == "thread_cv"], on="comment_id", how="left",
                          validate="one_to_one", suffixes=("", "_predicted"))
    if merged["score"].isna().any() or (merged["fold"] != merged["fold_predicted"]).any():
        raise SystemExit(f"evaluate: {family} has no thread_cv score, or one from another fold, for some comments")
    per_fold = {}
    for fold, rows in merged.groupby("fold"):
        per_fold[str(fold)] = {**classification_metrics(rows["well_received"], rows["score"]),
                               "threads": int(rows["post_id"].nunique())}
    report = {name: {"mean": float(np.nanmean([m[name] for m in per_fold.values()])),
                     "std": float(np.nanstd([m[name] for m in per_fold.values()]))} for name in CV_METRICS}
    overall_share = float((merged["score"] >= THRESHOLD).mean())
    y, score = merged["well_received"].to_numpy(), merged["score"].to_numpy()
    quality = thread_cv_quality(y, score, merged["fold"].to_numpy(), merged["post_id"].to_numpy(), seed)
    return ({**report, **quality, "overall_predicted_positive_share": overall_share, "folds": len(per_fold),
             "per_fold": per_fold}, reliability_table(y, score).assign(family=family))


def comparison_row(family: str, report: dict) -> dict:
    row = {"family": family, "kind": report["kind"], "status": report["status"]}
    if report["status"] == "ok":
        for name in ("roc_auc", "f1", "accuracy"):
            row[f"thread_cv_{name}_mean"] = round(report["thread_cv"][name]["mean"], 4)
            row[f"thread_cv_{name}_std"] = round(report["thread_cv"][name]["std"], 4)
        cv = report["thread_cv"]
        row["thread_cv_predicted_positive_share"] = round(cv["overall_predicted_positive_share"], 4)
        row.update({"thread_cv_roc_auc_low": round(cv["roc_auc_interval"]["low"], 4),
                    "thread_cv_roc_auc_high": round(cv["roc_auc_interval"]["high"], 4),
                    "within_thread_roc_auc": round(cv["within_thread_roc_auc"]["mean"], 4),
                    "within_thread_threads": cv["within_thread_roc_auc"]["threads"],
                    "thread_cv_brier": round(cv["brier"], 4), "thread_cv_ece": round(cv["ece"], 4)})
        for split in SPLITS:
            row.update({f"{split}_{k}": round(report[split][k], 4) for k in ("f1", "roc_auc", "accuracy", "mcc")})
        row["f1_gap"] = round(report["f1_gap"], 4)
        row["val_predicted_positive_share"] = round(report["val"]["predicted_positive_share"], 4)
    else:
        row["reason"] = report["reason"]
    return row


def to_markdown(rows: list[dict]) -> str:
    columns = ["family", "kind", "thread_cv_roc_auc", "thread_cv_roc_auc_95%", "within_thread_roc_auc",
               "thread_cv_ece", "thread_cv_brier", "thread_cv_f1", "thread_cv_accuracy", "test_roc_auc", "test_f1",
               "test_accuracy", "val_roc_auc", "val_f1", "f1_gap"]
    spread = ("thread_cv_roc_auc", "thread_cv_f1", "thread_cv_accuracy")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if row["status"] == "ok":
            cells = {c: (f"{row[c + '_mean']:.3f} ± {row[c + '_std']:.3f}" if c in spread else row.get(c))
                     for c in columns}
            cells["thread_cv_roc_auc_95%"] = (f"{row['thread_cv_roc_auc_low']:.3f} – "
                                              f"{row['thread_cv_roc_auc_high']:.3f}")
            cells["within_thread_roc_auc"] = (f"{row['within_thread_roc_auc']:.3f} "
                                              f"({row['within_thread_threads']} threads)")
            lines.append("| " + " | ".join(str(cells[c]) for c in columns) + " |")
        else:
            lines.append(f"| {row['family']} | {row['kind']} | unavailable: {row['reason']} |"
                         + " |" * (len(columns) - 3))
    return "\n".join(lines) + "\n"


def forward_markdown(forward: dict, rows: list[dict], cv_positive_share: float) -> str:
    """The forward-in-time check (metrics/forward.json) beside each family's thread-CV ROC-AUC, with the
    positive share of each part and of each test thread."""
    def when(part: dict) -> str:
        first, last = (pd.Timestamp(t, unit="s").strftime("%Y-%m-%d") for t in part["thread_start_utc"])
        return (f"{part['rows']} comments of {part['threads']} threads started {first} to {last}, "
                f"{part['positive_share']:.1%} well received")

    def cell(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    shares = ", ".join(f"{post_id} {t['positive_share']:.1%} of {t['rows']}"
                       for post_id, t in forward["test_threads"].items())
    lines = ["\n## Forward in time: the newest threads, scored by fits on the older ones\n",
             f"- fit: {when(forward['fit'])}",
             f"- test: {when(forward['test'])} (per thread: {shares})",
             f"- thread CV (train+val): {cv_positive_share:.1%} well received\n",
             "On few threads the forward ROC-AUC mostly measures how the share of well-received comments moves "
             "from thread to thread (base-rate shift), not what a model learnt: read it with the shares above; "
             "the within-thread ROC-AUC, which no base rate moves, is beside it. Trained families use their hpo "
             "configuration (raw scores).\n",
             "| family | kind | forward ROC-AUC | forward within-thread ROC-AUC | thread_cv_roc_auc |",
             "|---|---|---|---|---|"]
    for row in rows:
        family = row["family"]
        cv = f"{row['thread_cv_roc_auc_mean']:.3f}" if row["status"] == "ok" else "unavailable"
        if family in forward["families"]:
            scored = forward["families"][family]
            within = f"{cell(scored['within_thread_roc_auc'])} ({scored['within_thread_threads']} threads)"
            lines.append(f"| {family} | {row['kind']} | {cell(scored['roc_auc'])} | {within} | {cv} |")
        else:
            lines.append(f"| {family} | {row['kind']} | not refit by forward | | {cv} |")
    return "\n".join(lines) + "\n"


def ablation_markdown(ablation: dict) -> str:
    """Per family: thread-CV and within-thread ROC-AUC with the kept inputs, with each group removed and with
    each candidate group added, and whether the rule (a group stays only if it raises the fold mean) holds."""
    lines = []
    for family, run in ablation.items():
        lines += [f"\n## Ablation: {family} on unseen threads (hpo configuration, raw out-of-fold scores)\n",
                  "| inputs | thread-CV ROC-AUC (fold mean) | change | within-thread ROC-AUC | change | supported |",
                  "|---|---|---|---|---|---|",
                  f"| kept inputs | {run['all_inputs']['thread_cv_roc_auc']:.3f} | | "
                  f"{run['all_inputs']['within_thread_roc_auc']:.3f} | | |"]
        changes = [("without", g, s) for g, s in run["without"].items()]
        changes += [("with candidate", g, s) for g, s in run.get("with_candidate", {}).items()]
        for how, group, scores in changes:
            if "note" in scores:
                lines.append(f"| {how} {group} | {scores['note']} | | | | |")
                continue
            supported = {True: "yes", False: "no"}.get(scores.get("supported"), "")
            lines.append(f"| {how} {group} | {scores['thread_cv_roc_auc']:.3f} | "
                         f"{scores['change_thread_cv_roc_auc']:+.3f} | {scores['within_thread_roc_auc']:.3f} | "
                         f"{scores['change_within_thread_roc_auc']:+.3f} | {supported} |")
    return "\n".join(lines) + "\n"


def family_report(info: dict, family: str, labels: dict[str, pd.DataFrame], cv_labels: pd.DataFrame,
                  seed: int) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A family's metrics on val, test and the thread folds (or why it has none), and its plot tables by name
    (roc_val, pr_test, confusion_val, reliability_thread_cv...)."""
    report = {"status": info["status"], "model": info["model"], "kind": info["kind"]}
    if info["status"] != "ok":
        return {**report, "reason": info["reason"]}, {}
    plot_tables = {}
    predictions = pd.read_parquet(info["file"])
    for split in SPLITS:
        merged = labels[split].merge(predictions[predictions["split"] == split], on="comment_id",
                                     how="left", validate="one_to_one")
        if merged["score"].isna().any():
            raise SystemExit(f"evaluate: {family} has no prediction for some {split} comments")
        y, score = merged["well_received"].to_numpy(), merged["score"].to_numpy()
        report[split] = classification_metrics(y, score)
        for kind, table in curves(family, split, y, score).items():
            plot_tables[f"{kind}_{split}"] = table
    report["f1_gap"] = report["val"]["f1"] - report["test"]["f1"]
    report["thread_cv"], plot_tables["reliability_thread_cv"] = thread_cv_report(cv_labels, predictions, family, seed)
    return report, plot_tables


def ranked(rows: list[dict]) -> list[dict]:
    """Available families first, by thread-CV ROC-AUC (the champion rule's metric), then by name."""
    return sorted(rows, key=lambda r: (r["status"] != "ok", -r.get("thread_cv_roc_auc_mean", 0.0), r["family"]))


def comparison_markdown(rows: list[dict], forward: dict, ablation: dict, cv_positive_share: float) -> str:
    """The comparison table, then the forward-in-time check and the ablation."""
    return to_markdown(rows) + forward_markdown(forward, rows, cv_positive_share) + ablation_markdown(ablation)
