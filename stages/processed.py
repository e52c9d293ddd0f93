"""processed: label and split into data/processed/{train,val,test}.parquet, with the thread folds of train+val
in thread_folds.parquet (the label rule, the split strategies and the folds: reception.data.splits).
Writes metrics/data.json: the comments from the raw lines to the labelled rows, the label and each split.
"""
from __future__ import annotations

import pandas as pd

from reception.data.reports import data_report, write_report
from reception.data.splits import fractions_of, labelled, split_rows, thread_folds, train_val_rows
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import CLEAN_COMMENTS, DATA_METRICS, PROCESSED_DIR, THREAD_FOLDS_FILE, split_file


def main() -> None:
    settings = load_params("split")
    seed = settings["base"]["seed"]
    fractions = fractions_of(settings)
    comments, threshold = labelled(pd.read_parquet(CLEAN_COMMENTS))
    splits = split_rows(comments, settings["strategy"], fractions, seed)
    fresh_dir(PROCESSED_DIR)
    for name, rows in splits.items():
        rows.sort_values("comment_id", kind="stable").to_parquet(split_file(name), index=False)
    folds = thread_folds(train_val_rows(splits), settings["thread_cv_folds"], seed)
    folds.to_parquet(THREAD_FOLDS_FILE, index=False)
    write_report("processed", data_report(comments, threshold, settings["strategy"], splits, folds), DATA_METRICS)


if __name__ == "__main__":
    main()
