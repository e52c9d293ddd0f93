"""forward: the forward-in-time view, whatever split.strategy is: the newest threads (forward.test_share of the
comments) scored by fits on the older ones (reception.models.heldout).
Writes metrics/forward.json; evaluate adds it to metrics/comparison.md beside the thread CV.
"""
from __future__ import annotations

import pandas as pd

from reception.data.splits import FIT_COLUMNS, SPLITS, read_split, split_embeddings
from reception.data.thread_order import forward_split
from reception.models.families import declared
from reception.models.heldout import forward_report
from reception.outputs import write_json
from reception.params import load_params
from reception.paths import stage_metrics


def main() -> None:
    params = load_params("forward")
    frame = pd.concat([read_split(s, FIT_COLUMNS) for s in SPLITS], ignore_index=True)
    embeddings = split_embeddings(SPLITS)  # memory-mapped: each fit reads the rows it uses
    newest = forward_split(frame, params["test_share"])
    report = forward_report(declared(), frame, embeddings, newest, params["test_share"], params["base"]["seed"])
    write_json(stage_metrics("forward"), report)


if __name__ == "__main__":
    main()
