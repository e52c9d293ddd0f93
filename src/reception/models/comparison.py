"""What evaluate writes: each family's report (the same metrics on val, test and unseen threads, and for a
trained family the paired differences to every baseline), the plot tables, the comparison rows (sorted by the
champion rule's metric) and the comparison markdown with the held-out views.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from reception.models.evaluation import (
    THRESHOLD,
    classification_metrics,
    fold_roc_auc,
    paired_difference,
    reliability_table,
    resampled_fold_roc_auc,
    thread_cv_quality,
    within_thread_roc_auc,
)
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


def thread_cv_rows(labels: pd.DataFrame, predictions: pd.DataFrame, family: str) -> pd.DataFrame:
    """`labels` (train+val with their thread fold) and the family's out-of-fold score of each, in order."""
    merged = labels.merge(predictions[predictions["split"] == "thread_cv"], on="comment_id", how="left",
                          validate="one_to_one", suffixes=("", "_predicted"))
    if merged["score"].isna().any() or (merged["fold"] != merged["fold_predicted"]).any():
        raise SystemExit(f"evaluate: {family} has no thread_cv score, or one from another fold, for some comments")
    return merged


def long_thread_scores(merged: pd.DataFrame, long: np.ndarray, min_comments: int) -> dict:
    """The fold-mean and within-thread ROC-AUC on the comments of long threads (`long`: their post_ids)
    only, where the order of comments in a thread matters most."""
    rows = merged[merged["post_id"].isin(long)]
    y, score = rows["well_received"].to_numpy(), rows["score"].to_numpy()
    return {"min_comments": min_comments, "threads": int(rows["post_id"].nunique()), "rows": len(rows),
            "roc_auc": fold_roc_auc(y, score, rows["fold"].to_numpy()),
            "within_thread_roc_auc": within_thread_roc_auc(y, score, rows["post_id"].to_numpy())}


def thread_cv_report(merged: pd.DataFrame, family: str, seed: int, long: np.ndarray,
                     min_comments: int) -> tuple[dict, pd.DataFrame, np.ndarray]:
    """Per-fold metrics of the out-of-fold scores (thread_cv_rows), their mean and std over the folds, the
    views of thread_cv_quality and the same ROC-AUCs on long threads; the reliability table of those scores;
    and the fold-mean ROC-AUC of each thread resample (the paired differences reuse it)."""
    per_fold = {}
    for fold, rows in merged.groupby("fold"):
        per_fold[str(fold)] = {**classification_metrics(rows["well_received"], rows["score"]),
                               "threads": int(rows["post_id"].nunique())}
    report = {name: {"mean": float(np.nanmean([m[name] for m in per_fold.values()])),
                     "std": float(np.nanstd([m[name] for m in per_fold.values()]))} for name in CV_METRICS}
    overall_share = float((merged["score"] >= THRESHOLD).mean())
    y, score, threads = merged["well_received"].to_numpy(), merged["score"].to_numpy(), merged["post_id"].to_numpy()
    resampled = resampled_fold_roc_auc(y, score, merged["fold"].to_numpy(), threads, seed)
    quality = thread_cv_quality(y, score, threads, resampled)
    return ({**report, **quality, "long_threads": long_thread_scores(merged, long, min_comments),
             "overall_predicted_positive_share": overall_share, "folds": len(per_fold), "per_fold": per_fold},
            reliability_table(y, score).assign(family=family), resampled)


def paired_differences(labels: pd.DataFrame, scores: dict[str, np.ndarray], resampled: dict[str, np.ndarray],
                       kinds: dict[str, str]) -> dict[str, dict[str, dict]]:
    """Per trained family, per baseline (among the families with `scores`: out-of-fold thread-CV scores in the
    order of `labels`): the fold-mean ROC-AUC of the family minus the baseline's and its 95 % interval over
    threads, both scored on the same thread draws (`resampled`, drawn with one seed)."""
    y, folds = labels["well_received"].to_numpy(), labels["fold"].to_numpy()
    baselines = sorted(name for name in scores if kinds[name] == "baseline")
    return {name: {baseline: {k: round(v, 4) if isinstance(v, float) else v
                              for k, v in paired_difference(y, scores[name], scores[baseline], folds,
                                                            resampled[name], resampled[baseline]).items()}
                   for baseline in baselines}
            for name in scores if kinds[name] == "trained"}


def fmt(value: float | None, signed: bool = False) -> str:
    """A metric in the markdown: 3 decimals, n/a where undefined (None or NaN)."""
    if value is None or value != value:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def interval_cell(interval: dict) -> str:
    """A paired difference and its interval: "+0.012 (-0.004 to +0.030)"."""
    return (f"{fmt(interval['difference'], True)} ({fmt(interval['low'], True)} to "
            f"{fmt(interval['high'], True)})")


def comparison_row(family: str, report: dict) -> dict:
    row = {"family": family, "kind": report["kind"], "status": report["status"]}
    if report["status"] == "ok":
        for name in ("roc_auc", "f1", "accuracy"):
            row[f"thread_cv_{name}_mean"] = round(report["thread_cv"][name]["mean"], 4)
            row[f"thread_cv_{name}_std"] = round(report["thread_cv"][name]["std"], 4)
        cv = report["thread_cv"]
        long = cv["long_threads"]
        row["thread_cv_predicted_positive_share"] = round(cv["overall_predicted_positive_share"], 4)
        row.update({"thread_cv_roc_auc_low": round(cv["roc_auc_interval"]["low"], 4),
                    "thread_cv_roc_auc_high": round(cv["roc_auc_interval"]["high"], 4),
                    "within_thread_roc_auc": round(cv["within_thread_roc_auc"]["mean"], 4),
                    "within_thread_threads": cv["within_thread_roc_auc"]["threads"],
                    "long_thread_min_comments": long["min_comments"], "long_threads": long["threads"],
                    "long_thread_roc_auc_mean": round(long["roc_auc"], 4),
                    "long_thread_within_thread_roc_auc": round(long["within_thread_roc_auc"]["mean"], 4),
                    "thread_cv_brier": round(cv["brier"], 4), "thread_cv_ece": round(cv["ece"], 4)})
        for split in SPLITS:
            row.update({f"{split}_{k}": round(report[split][k], 4) for k in ("f1", "roc_auc", "accuracy", "mcc")})
        row["f1_gap"] = round(report["f1_gap"], 4)
        row["val_predicted_positive_share"] = round(report["val"]["predicted_positive_share"], 4)
        if "paired_differences" in cv:  # a trained family: what the champion rule reads
            row["paired_differences"] = cv["paired_differences"]
    else:
        row["reason"] = report["reason"]
    return row


def to_markdown(rows: list[dict]) -> str:
    columns = ["family", "kind", "thread_cv_roc_auc", "thread_cv_roc_auc_95%", "within_thread_roc_auc",
               "long_thread_roc_auc", "long_thread_within_thread_roc_auc", "thread_cv_ece", "thread_cv_brier",
               "thread_cv_f1", "thread_cv_accuracy", "test_roc_auc", "test_f1", "test_accuracy", "val_roc_auc",
               "val_f1", "f1_gap"]
    spread = ("thread_cv_roc_auc", "thread_cv_f1", "thread_cv_accuracy")
    long = next((r["long_thread_min_comments"] for r in rows if r["status"] == "ok"), None)
    headers = {"long_thread_roc_auc": f"thread_cv_roc_auc, threads of >= {long} comments",
               "long_thread_within_thread_roc_auc": f"within_thread_roc_auc, threads of >= {long} comments"}
    lines = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        if row["status"] == "ok":
            cells = {c: (f"{row[c + '_mean']:.3f} ± {row[c + '_std']:.3f}" if c in spread else row.get(c))
                     for c in columns}
            cells["thread_cv_roc_auc_95%"] = (f"{row['thread_cv_roc_auc_low']:.3f} – "
                                              f"{row['thread_cv_roc_auc_high']:.3f}")
            cells["within_thread_roc_auc"] = (f"{row['within_thread_roc_auc']:.3f} "
                                              f"({row['within_thread_threads']} threads)")
            cells["long_thread_roc_auc"] = f"{fmt(row['long_thread_roc_auc_mean'])} ({row['long_threads']} threads)"
            cells["long_thread_within_thread_roc_auc"] = fmt(row["long_thread_within_thread_roc_auc"])
            lines.append("| " + " | ".join(str(cells[c]) for c in columns) + " |")
        else:
            lines.append(f"| {row['family']} | {row['kind']} | unavailable: {row['reason']} |"
                         + " |" * (len(columns) - 3))
    return "\n".join(lines) + "\n"


def paired_markdown(rows: list[dict]) -> str:
    """Each trained family's thread-CV ROC-AUC minus each baseline's, with the 95 % interval over threads
    (paired: both scored on the same thread draws); the alias needs every lower end above 0."""
    trained = [r for r in rows if "paired_differences" in r]
    if not trained:
        return ""
    baselines = sorted({b for r in trained for b in r["paired_differences"]})
    lines = ["\n## Paired differences on unseen threads: trained family minus baseline\n",
             "Thread-CV ROC-AUC (fold mean) of the trained family minus the baseline's, on the same out-of-fold "
             "comments, with its 95 % interval over threads (each resample draws whole threads once and scores "
             "both on them). The champion alias moves only when every lower end is above 0.\n",
             "| family | " + " | ".join(f"minus {b}" for b in baselines) + " |", "|---|" + "---|" * len(baselines)]
    for row in trained:
        cells = [interval_cell(row["paired_differences"][b]) if b in row["paired_differences"] else "n/a"
                 for b in baselines]
        lines.append(f"| {row['family']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def heldout_table(view: dict, rows: list[dict], refit_by: str, per_part: list[str] | None = None) -> list[str]:
    """The rows of a held-out view's table: per family its ROC-AUC, interval, within-thread ROC-AUC, the
    paired differences to the timing rules, (per held-out part,) and its thread-CV ROC-AUC beside them."""
    rules = sorted({rule for scored in view["families"].values() for rule in scored.get("paired_differences", {})})
    parts = per_part or []
    lines = ["| family | kind | ROC-AUC | 95 % interval | within-thread ROC-AUC | "
             + "".join(f"minus {rule} | " for rule in rules) + "".join(f"{p} | " for p in parts)
             + "thread_cv_roc_auc |", "|---|---|---|---|---|" + "---|" * (len(rules) + len(parts) + 1)]
    for row in rows:
        family = row["family"]
        cv = f"{row['thread_cv_roc_auc_mean']:.3f}" if row["status"] == "ok" else "unavailable"
        scored = view["families"].get(family)
        if scored is None:
            lines.append(f"| {family} | {row['kind']} | not refit by {refit_by} |"
                         + " |" * (2 + len(rules) + len(parts)) + f" {cv} |")
            continue
        interval = scored["roc_auc_interval"]
        paired = scored.get("paired_differences", {})
        cells = [fmt(scored["roc_auc"]), f"{fmt(interval['low'])} – {fmt(interval['high'])}",
                 f"{fmt(scored['within_thread_roc_auc'])} ({scored['within_thread_threads']} threads)",
                 *(interval_cell(paired[rule]) if rule in paired else "" for rule in rules),
                 *(fmt(scored["per_subreddit"][p]) for p in parts), cv]
        lines.append(f"| {family} | {row['kind']} | " + " | ".join(cells) + " |")
    return lines


NAMED_TEST_THREADS = 10  # the forward test threads named one by one in the markdown; more are summarised


def forward_markdown(forward: dict, rows: list[dict], cv_positive_share: float) -> str:
    """The forward-in-time view (metrics/forward.json) beside each family's thread-CV ROC-AUC, with the
    positive share of each part and of each test thread."""
    def when(part: dict) -> str:
        first, last = (pd.Timestamp(t, unit="s").strftime("%Y-%m-%d") for t in part["thread_start_utc"])
        return (f"{part['rows']} comments of {part['threads']} threads started {first} to {last}, "
                f"{part['positive_share']:.1%} well received")

    threads = forward["test_threads"]
    if len(threads) <= NAMED_TEST_THREADS:
        shares = "per thread: " + ", ".join(f"{post_id} {t['positive_share']:.1%} of {t['rows']}"
                                            for post_id, t in threads.items())
    else:  # thousands of threads on the corpus: their spread, each one in metrics/forward.json
        quartiles = np.percentile([t["positive_share"] for t in threads.values()], [25, 50, 75])
        shares = "per thread, quartiles of the share: " + ", ".join(f"{q:.1%}" for q in quartiles)
    lines = ["\n## Forward in time: the newest threads, scored by fits on the older ones\n",
             f"- fit: {when(forward['fit'])}",
             f"- test: {when(forward['test'])} ({shares})",
             f"- thread CV (train+val): {cv_positive_share:.1%} well received\n",
             "On few threads the forward ROC-AUC mostly measures how the share of well-received comments moves "
             "from thread to thread (base-rate shift), not what a model learnt: read it with the shares above; "
             "the within-thread ROC-AUC, which no base rate moves, is beside it. Trained families use their hpo "
             "configuration (raw scores); the 95 % intervals are over the test threads, the differences to the "
             "timing rules paired (same thread draws).\n",
             *heldout_table(forward, rows, "forward")]
    return "\n".join(lines) + "\n"


def leave_one_subreddit_out_markdown(view: dict, rows: list[dict]) -> str:
    """The leave-one-subreddit-out view (metrics/leave_one_subreddit_out.json), or why there is none."""
    subreddits = ", ".join(f"{name} {s['rows']} comments of {s['threads']} threads ({s['long_threads']} long), "
                           f"{s['positive_share']:.1%} well received" for name, s in view["subreddits"].items())
    lines = ["\n## Leave one subreddit out: each subreddit scored by fits on the others\n",
             f"- subreddits: {subreddits}",
             f"- held out: each subreddit with at least {view['subreddit_min_threads']} long threads (threads of >= "
             f"{view['long_thread_comments']} labelled comments), all its comments scored by fits on every other "
             f"subreddit\n"]
    if "note" in view:
        return "\n".join([*lines, f"No leave-one-subreddit-out view: {view['note']}."]) + "\n"
    lines += ["ROC-AUC: the mean over the held-out subreddits (each one's beside it); the 95 % intervals are over "
              "threads, the differences to the timing rules paired (same thread draws). Trained families use their "
              "hpo configuration (raw scores).\n",
              *heldout_table(view, rows, "leave_one_subreddit_out", view["eligible"])]
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


def family_report(info: dict, family: str, labels: dict[str, pd.DataFrame], cv_labels: pd.DataFrame, seed: int,
                  long: np.ndarray, min_comments: int) -> tuple[dict, dict[str, pd.DataFrame], tuple | None]:
    """A family's metrics on val, test and the thread folds (or why it has none), its plot tables by name
    (roc_val, pr_test, confusion_val, reliability_thread_cv...), and (its out-of-fold thread-CV scores in
    the order of `cv_labels`, their resampled fold-mean ROC-AUC) for paired_differences, None without."""
    report = {"status": info["status"], "model": info["model"], "kind": info["kind"]}
    if info["status"] != "ok":
        return {**report, "reason": info["reason"]}, {}, None
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
    merged = thread_cv_rows(cv_labels, predictions, family)
    report["thread_cv"], plot_tables["reliability_thread_cv"], resampled = thread_cv_report(merged, family, seed,
                                                                                          long, min_comments)
    return report, plot_tables, (merged["score"].to_numpy(), resampled)


def ranked(rows: list[dict]) -> list[dict]:
    """Available families first, by thread-CV ROC-AUC (the champion rule's metric), then by name."""
    return sorted(rows, key=lambda r: (r["status"] != "ok", -r.get("thread_cv_roc_auc_mean", 0.0), r["family"]))


def comparison_markdown(rows: list[dict], forward: dict, leave_one_subreddit_out: dict, ablation: dict,
                        cv_positive_share: float) -> str:
    """The comparison table, the paired differences to the baselines, the held-out views (forward in time,
    leave one subreddit out) and the ablation."""
    return (to_markdown(rows) + paired_markdown(rows) + forward_markdown(forward, rows, cv_positive_share)
            + leave_one_subreddit_out_markdown(leave_one_subreddit_out, rows) + ablation_markdown(ablation))
