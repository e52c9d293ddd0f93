"""processed: label and split into data/processed/{train,val,test}.parquet, with the thread folds of train+val
in thread_folds.parquet (the label rule, the split strategies and the folds: reception.data.splits).
Writes metrics/data.json: the comments from the raw lines to the labelled rows, the label and each split.

The clean comments are read as a Dask frame (reception.data.dask_runtime): only their ids, threads, starts and
labels are held whole.
"""
from __future__ import annotations

from reception.data.dask_runtime import dask_scheduler, read_parts
from reception.data.reports import data_report, write_report
from reception.data.split_files import label_rows, write_split_files
from reception.data.splits import fractions_of, split_rows, thread_folds, train_val_rows
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import CLEAN_COMMENTS, DATA_METRICS, PROCESSED_DIR, THREAD_FOLDS_FILE, split_file


def main() -> None:
    settings = load_params("split")
    seed = settings["base"]["seed"]
    fractions = fractions_of(settings)
    fresh_dir(PROCESSED_DIR)
    with dask_scheduler("processed"):
        clean = read_parts(CLEAN_COMMENTS)
        comments, threshold = label_rows(clean)
        splits = split_rows(comments, settings["strategy"], fractions, seed)
        write_split_files(clean, splits, threshold, settings["partition_rows"], split_file, PROCESSED_DIR / ".parts")
    folds = thread_folds(train_val_rows(splits), settings["thread_cv_folds"], seed)
    folds.to_parquet(THREAD_FOLDS_FILE, index=False)
    write_report("processed", data_report(comments, threshold, settings["strategy"], splits, folds), DATA_METRICS)


if __name__ == "__main__":
    main()
