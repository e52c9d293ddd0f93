"""What each data stage reports: its counts in metrics/<stage>.json (processed: metrics/data.json), printed too.

The processed stage's report also follows the comments from the raw lines to the labelled rows, reading the
counts ingest and interim wrote.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from reception.data.thread_order import summary
from reception.outputs import write_json
from reception.paths import stage_metrics


def write_report(stage: str, report: dict, path: Path | None = None) -> None:
    """The stage's counts to `path` (default metrics/<stage>.json) and to stdout, one line per entry."""
    write_json(path or stage_metrics(stage), report)
    for key, value in report.items():
        print(f"{stage} {key}: {json.dumps(value)}")


def data_report(labelled: pd.DataFrame, threshold: float, strategy: str, splits: dict[str, pd.DataFrame],
                folds: pd.DataFrame) -> dict:
    """The processed stage's report: the comment funnel from raw lines (metrics/ingest.json and
    metrics/interim.json) to the labelled rows, the label rule, each split and each thread fold."""
    ingest, interim = (json.loads(stage_metrics(stage).read_text()) for stage in ("ingest", "interim"))
    return {
        "raw_lines": ingest["total"],
        "comments": {
            "raw_lines": ingest["comments"]["lines_read"], "quarantined": ingest["comments"]["quarantined"],
            "duplicates": ingest["comments"]["duplicates"], "kept": ingest["comments"]["kept"],
            **{k: interim[k] for k in ("dropped_immature", "dropped_deleted", "dropped_short_text",
                                       "dropped_short_clean_text")},
            "labelled": len(labelled),
        },
        "label": {"rule": "score_clipped >= median(score_clipped)", "threshold": threshold,
                  "positive_share": round(float(labelled["well_received"].mean()), 4)},
        "split": {"strategy": strategy, **{name: summary(split) for name, split in splits.items()}},
        "thread_folds": {str(fold): {"rows": len(rows), "threads": int(rows["post_id"].nunique())}
                         for fold, rows in folds.groupby("fold")},
    }
