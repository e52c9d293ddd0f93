"""leave_one_subreddit_out: each subreddit with at least heldout.subreddit_min_threads threads of at least
heldout.long_thread_comments labelled comments, scored by fits on every other subreddit, whatever
split.strategy is (reception.models.heldout). With fewer than 2 such subreddits the report says so.
Writes metrics/leave_one_subreddit_out.json; evaluate adds it to metrics/comparison.md beside the thread CV.
"""
from __future__ import annotations

import pandas as pd

from reception.data.splits import FIT_COLUMNS, SPLITS, read_split, split_embeddings
from reception.models.families import declared
from reception.models.heldout import leave_one_subreddit_out_report
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import LEAVE_ONE_SUBREDDIT_OUT_METRICS


def main() -> None:
    params = load_params("heldout")
    frame = pd.concat([read_split(s, FIT_COLUMNS) for s in SPLITS], ignore_index=True)
    embeddings = split_embeddings(SPLITS)  # memory-mapped: each fit reads the rows it uses
    report = leave_one_subreddit_out_report(declared(), frame, embeddings, params["long_thread_comments"],
                                            params["subreddit_min_threads"], params["base"]["seed"])
    write_json(LEAVE_ONE_SUBREDDIT_OUT_METRICS, report)
    print(report.get("note", f"held out: {', '.join(report['eligible'])}"))


if __name__ == "__main__":
    main()
