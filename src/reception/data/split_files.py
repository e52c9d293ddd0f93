"""The processed stage's split files, from the clean comments as a Dask frame (reception.data.dask_runtime),
without holding them whole: the label's median is exact (from the value counts of score_clipped), the split
strategies and the folds (reception.data.splits) run on the ids, threads, starts and labels alone (held in
memory, about 100 bytes a row), and each split file is written part by part in comment_id order.

Apart from reception.data.splits so that the stages and the service that read the split files import no Dask.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

from reception.data.dask_runtime import concat_parts, map_parts, part_file, partitions_for, sorted_by, write_parts
from reception.data.splits import SPLITS, labelled
from reception.data.text import well_received_label, well_received_threshold

# What the split strategies, the folds and the report read of every comment (label_rows): held in memory.
LABEL_INPUTS = ["comment_id", "post_id", "thread_start_utc", "score_clipped"]


def label_rows(clean: dd.DataFrame) -> tuple[pd.DataFrame, float]:
    """comment_id, post_id, thread_start_utc and well_received of every clean comment, in comment_id order;
    and the label's threshold: np.median of score_clipped (IMEDIA's rule), exactly, from its value counts."""
    rows, counts = dask.compute(clean[LABEL_INPUTS], clean["score_clipped"].value_counts())
    threshold = well_received_threshold(counts)
    rows["well_received"] = well_received_label(rows["score_clipped"], threshold)
    rows = rows.drop(columns="score_clipped")
    return rows.sort_values("comment_id", kind="stable").reset_index(drop=True), threshold


def split_partitions(clean: dd.DataFrame, splits: dict[str, pd.DataFrame], threshold: float,
                     partition_rows: int) -> tuple[dd.DataFrame, dict[str, range]]:
    """The labelled rows (COLUMNS) of every split, in partitions of about `partition_rows` rows (params
    split.partition_rows), each split's in comment_id order across its partitions; and each split's partitions.
    `splits`: label_rows' rows by split."""
    keys, spans = [], {}
    for name in SPLITS:
        ids = splits[name]["comment_id"].sort_values(kind="stable").to_numpy()
        parts, start = partitions_for(len(ids), partition_rows), sum(map(len, spans.values()))
        keys.append(pd.Series(start + np.arange(len(ids)) * parts // max(len(ids), 1), index=ids))
        spans[name] = range(start, start + parts)
    # comment_id -> its partition, one object that every partition's task reads (ids and numbers only): a
    # lookup, where a join would shuffle the whole rows once more.
    part_of = dask.delayed(pd.concat(keys), pure=True)
    rows = clean.map_partitions(with_partition, threshold, part_of,
                                meta=with_partition(clean._meta, threshold, pd.Series([], dtype="int64")))
    # Partition i holds the rows whose partition number is i: boundaries given, nothing estimated.
    rows = rows.set_index(PARTITION, divisions=list(range(sum(map(len, spans.values())) + 1)))
    return map_parts(rows, sorted_by, "comment_id"), spans


PARTITION = "_partition"


def with_partition(comments: pd.DataFrame, threshold: float, part_of: pd.Series) -> pd.DataFrame:
    """The labelled rows (COLUMNS) of clean comments and the partition (PARTITION) each goes to."""
    rows = labelled(comments, threshold)
    return rows.assign(**{PARTITION: rows["comment_id"].map(part_of).astype("int64")})


def write_split_files(clean: dd.DataFrame, splits: dict[str, pd.DataFrame], threshold: float, partition_rows: int,
                      split_path: Callable[[str], Path], scratch: Path) -> None:
    """Each split's labelled rows, sorted by comment_id, as one Parquet file (split_path(split)): written by
    partitions into `scratch` (a folder the workers share), then appended part by part."""
    frame, spans = split_partitions(clean, splits, threshold, partition_rows)
    try:
        write_parts(frame, scratch)
        for name, span in spans.items():
            concat_parts([part_file(scratch, i) for i in span], split_path(name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
