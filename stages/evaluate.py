"""evaluate: the same metrics for every family on val, test and unseen threads; plots; the comparison table
(reception.models.comparison).

metrics/families/<family>.json  val/test accuracy, precision, recall, F1, ROC-AUC, MCC; f1_gap = val.f1 - test.f1;
    thread_cv: the family's out-of-fold scores on train+val, one fold of whole threads at a time, as
    mean and std over the folds of ROC-AUC, F1 and accuracy (per fold too); beside them the within-thread
    ROC-AUC (how well it ranks comments of one thread), a 95 % bootstrap interval over threads of the
    fold-mean ROC-AUC, the Brier score and expected calibration error of its probabilities, both ROC-AUCs on
    the comments of long threads only (long_threads: >= heldout.long_thread_comments labelled comments, all
    splits), and for a trained family the paired differences of its fold-mean ROC-AUC to every baseline's
    with their 95 % intervals over threads (paired_differences: what the champion rule reads)
metrics/comparison.{json,md}  one row per family, sorted by thread_cv ROC-AUC (the champion rule's
    metric: users score comments of new threads), printed too; the markdown adds the paired differences, the
    held-out views beside the thread CV (metrics/forward.json: the newest threads scored by fits on the older
    ones, with each part's positive share; metrics/leave_one_subreddit_out.json: each subreddit scored by fits
    on the others) and ends with the ablation (metrics/ablation.json): each kept feature group removed and
    each candidate added, in turn
metrics/plots/  ROC, precision-recall and confusion data per split, and the reliability diagram of the
    thread-CV probabilities, for `dvc plots show`
Every family declared in params.yaml `families` gets a row; an unavailable one (a zero-shot checkpoint that
could not be loaded, fine-tuning skipped without a GPU) keeps its row, with the reason.
"""
from __future__ import annotations

import json

import pandas as pd

from reception.data.splits import read_split, read_train_val_folds
from reception.models.comparison import (
    SPLITS,
    comparison_markdown,
    comparison_row,
    family_report,
    load_families,
    paired_differences,
    ranked,
)
from reception.models.evaluation import long_threads
from reception.models.families import declared
from reception.outputs import fresh_dir, write_json
from reception.params import all_params
from reception.paths import (
    ABLATION_METRICS,
    COMPARISON_JSON,
    COMPARISON_MD,
    FAMILY_METRICS_DIR,
    LEAVE_ONE_SUBREDDIT_OUT_METRICS,
    PLOTS_DIR,
    family_metrics,
    stage_metrics,
)


def main() -> None:
    params = all_params()
    seed, min_comments = params["base"]["seed"], params["heldout"]["long_thread_comments"]
    labels = {s: read_split(s, ["comment_id", "post_id", "well_received"]) for s in SPLITS}
    cv_labels = read_train_val_folds(["comment_id", "post_id", "well_received"])
    cv_labels = cv_labels[["comment_id", "post_id", "fold", "well_received"]]
    long = long_threads(pd.concat([cv_labels["post_id"], labels["test"]["post_id"]]).to_numpy(), min_comments)
    for folder in (PLOTS_DIR, FAMILY_METRICS_DIR):
        fresh_dir(folder)
    plot_tables, reports, scores, resampled = {}, {}, {}, {}
    families = load_families(declared())
    for family, info in families.items():
        reports[family], tables, thread_cv = family_report(info, family, labels, cv_labels, seed, long, min_comments)
        for name, table in tables.items():
            plot_tables.setdefault(name, []).append(table)
        if thread_cv is not None:
            scores[family], resampled[family] = thread_cv
    paired = paired_differences(cv_labels, scores, resampled, {name: info["kind"] for name, info in families.items()})
    rows = []
    for family, report in reports.items():
        if family in paired:
            report["thread_cv"]["paired_differences"] = paired[family]
        write_json(family_metrics(family), report)
        rows.append(comparison_row(family, report))
    for name, tables in plot_tables.items():
        pd.concat(tables, ignore_index=True).to_csv(PLOTS_DIR / f"{name}.csv", index=False)
    rows = ranked(rows)
    write_json(COMPARISON_JSON, rows)
    table = comparison_markdown(rows, json.loads(stage_metrics("forward").read_text()),
                                json.loads(LEAVE_ONE_SUBREDDIT_OUT_METRICS.read_text()),
                                json.loads(ABLATION_METRICS.read_text()), float(cv_labels["well_received"].mean()))
    COMPARISON_MD.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
