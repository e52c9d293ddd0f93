"""Bronze: the validated raw records of an entity as a typed table, partitioned by the UTC date of created_utc.

Every field of the raw records becomes a typed, nullable column, but those about the author. Reddit's
`edited` (false or an epoch) becomes `edited` (bool) plus `edited_utc` (float, null if never). Authors are
pseudonymised (reception.data.pseudonyms) before anything is written: `author` and, in real dump files, the
account id `author_fullname`; the other `author_*` fields of dumps (flair text, premium status, ...) describe
the person and are dropped.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from reception.data.pseudonyms import pseudonymise
from reception.data.raw_records import SCHEMAS

# What names an author: pseudonymised. Any other column whose name starts with "author" is dropped.
AUTHOR_IDS = ("author", "author_fullname")
# entity -> sort key, so that the files (and their DVC hashes) do not depend on input order.
ENTITIES = {
    "comments": ["comment_id"],
    "posts": ["id"],
    "subreddits": ["subreddit"],
    "hot_sublists": ["_source_file", "_source_line"],
}
# Entities a source may lack (dump files hold only posts and comments); the others must have records.
OPTIONAL_ENTITIES = ("subreddits", "hot_sublists")
SOURCE_COLUMNS = ("_source_file", "_source_line")  # where ingest read each record
PARTITIONING = ds.partitioning(pa.schema([("YYYY", pa.string()), ("MM", pa.string()), ("DD", pa.string())]),
                               flavor="hive")


def to_typed_frame(raw: pd.DataFrame, sort_key: list[str]) -> pd.DataFrame:
    frame = raw.copy()
    if "edited" in frame:
        edited = frame["edited"]
        is_epoch = edited.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        frame["edited_utc"] = edited.where(is_epoch).astype("float64")
        frame["edited"] = is_epoch | edited.map(lambda v: v is True)
    frame = frame.convert_dtypes(dtype_backend="pyarrow")
    if "created_utc" in frame:
        frame["created_utc"] = frame["created_utc"].astype("float64[pyarrow]")
        frame["created_dt"] = pd.to_datetime(frame["created_utc"].astype("float64"), unit="s", utc=True)
    return frame.sort_values(sort_key, kind="stable").reset_index(drop=True)


def typed_entity(raw_file: Path, entity: str, key: bytes) -> pd.DataFrame:
    """The kept records of `raw_file` (ingest's <entity>.ndjson), authors pseudonymised with `key`, typed."""
    with open(raw_file) as lines:
        raw = pd.DataFrame.from_records([json.loads(line) for line in lines])
    if raw.empty and entity not in OPTIONAL_ENTITIES:
        raise SystemExit(f"bronze: no valid {entity} records left after ingest (see metrics/ingest.json)")
    if raw.empty:  # e.g. a dump folder, which holds no subreddit metadata: an empty table of the schema's columns
        raw = pd.DataFrame({name: pd.Series(dtype="object") for name in [*SCHEMAS[entity][1], *SOURCE_COLUMNS]})
    for column in [c for c in raw.columns if c.startswith("author")]:
        if column in AUTHOR_IDS:
            names = raw[column]
            raw[column] = pseudonymise(names.where(names.map(lambda v: isinstance(v, str))), key)
        else:
            raw = raw.drop(columns=column)
    return to_typed_frame(raw, ENTITIES[entity])


def write_partitioned(frame: pd.DataFrame, out: Path) -> None:
    """YYYY=/MM=/DD= folders by created_dt; a table without timestamps (hot lists) or rows is one file."""
    if "created_dt" not in frame or frame.empty:
        out.mkdir(parents=True)
        frame.to_parquet(out / "part-0.parquet", index=False)
        return
    dates = frame["created_dt"].dt
    partitioned = frame.assign(YYYY=dates.strftime("%Y"), MM=dates.strftime("%m"), DD=dates.strftime("%d"))
    # Rows of a day together (a stable sort keeps their order), so each day is written, then closed, once:
    # years of dump files hold more days than the writer keeps open (1,024).
    partitioned = partitioned.sort_values(["YYYY", "MM", "DD"], kind="stable")
    table = pa.Table.from_pandas(partitioned, preserve_index=False)
    days = partitioned[["YYYY", "MM", "DD"]].drop_duplicates().shape[0]
    # One thread keeps the row order inside each file, so a re-run writes identical bytes.
    ds.write_dataset(table, out, format="parquet", partitioning=PARTITIONING, max_partitions=max(days, 1024),
                     basename_template="part-{i}.parquet", use_threads=False)
