"""Bronze: the validated raw records of an entity as a typed table, partitioned by the UTC date of created_utc.

Every field of the raw records becomes a typed, nullable column, but those about the author. Reddit's
`edited` (false or an epoch) becomes `edited` (bool) plus `edited_utc` (float, null if never). Authors are
pseudonymised (reception.data.pseudonyms) before anything is written: `author` and, in real dump files, the
account id `author_fullname`; the other `author_*` fields of dumps (flair text, premium status, ...) describe
the person and are dropped.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from reception.data.dask_runtime import partitions_for
from reception.data.pseudonyms import pseudonymise
from reception.data.raw_records import SCHEMAS, STAGING_PREFIX, kept_parts
from reception.outputs import fresh_dir

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
DERIVED_COLUMNS = ("edited_utc", "created_dt")  # what `to_typed_frame` adds, after the raw fields
DAY_COLUMNS = ("YYYY", "MM", "DD")  # the hive folders, from created_dt in UTC
ROW_GROUP_ROWS = 1 << 20  # Arrow's default largest row group
PARTITIONING = ds.partitioning(pa.schema([(name, pa.string()) for name in DAY_COLUMNS]), flavor="hive")


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


def typed_frame(raw: pd.DataFrame, entity: str, key: bytes) -> pd.DataFrame:
    """Kept records of `entity` (one part or all), authors pseudonymised with `key`, typed."""
    if raw.empty:  # e.g. a dump folder, which holds no subreddit metadata: an empty table of the schema's columns
        raw = pd.DataFrame({name: pd.Series(dtype="object") for name in [*SCHEMAS[entity][1], *SOURCE_COLUMNS]})
    for column in [c for c in raw.columns if c.startswith("author")]:
        if column in AUTHOR_IDS:
            raw[column] = pseudonymise(raw[column], key)
        else:
            raw = raw.drop(columns=column)
    return to_typed_frame(raw, ENTITIES[entity])


def stage_part(raw_part: Path, staged: Path, entity: str, key: bytes) -> tuple[pa.Schema, int]:
    """One part of ingest's kept records, typed (`typed_frame`), to `staged`; its Arrow schema and rows."""
    records = pq.read_table(raw_part, columns=["record"])["record"].to_pylist()
    table = pa.Table.from_pandas(typed_frame(pd.DataFrame.from_records(map(json.loads, records)), entity, key),
                                 preserve_index=False)
    pq.write_table(table, staged)
    return table.schema.remove_metadata(), table.num_rows


def common_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for every part: a column missing from a part, or null in all its rows there, takes the type
    it has elsewhere, and int64 beside double becomes double, as typing the whole table at once would;
    the derived columns last, as `to_typed_frame` puts them."""
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    last = [name for name in DERIVED_COLUMNS if name in schema.names]
    return pa.schema([schema.field(n) for n in schema.names if n not in last] + [schema.field(n) for n in last])


def _pandas_type(arrow_type: pa.DataType):
    """The pandas dtype `to_typed_frame` gives a column of this Arrow type (None: pyarrow's default)."""
    if pa.types.is_timestamp(arrow_type):
        return None  # created_dt: numpy datetime64 with its time zone, as pd.to_datetime makes it
    return pd.ArrowDtype(arrow_type)


def conformed_part(staged: Path, schema: pa.Schema) -> pd.DataFrame:
    """A staged part in the common schema, with the YYYY/MM/DD of its created_dt if it has one."""
    table = pq.read_table(staged)
    table = pa.Table.from_arrays([table[f.name].cast(f.type) if f.name in table.column_names
                                  else pa.nulls(table.num_rows, f.type) for f in schema], schema=schema)
    frame = table.to_pandas(types_mapper=_pandas_type)
    if "created_dt" in frame:
        dates = frame["created_dt"].dt
        frame = frame.assign(YYYY=dates.strftime("%Y"), MM=dates.strftime("%m"), DD=dates.strftime("%d"))
    return frame


def write_days(part: pd.DataFrame, out: Path, sort_key: list[str], dtypes: dict) -> pd.DataFrame:
    """Every day in `part` (all of its rows, after the shuffle by day) sorted by `sort_key` into
    out/YYYY=/MM=/DD=/part-0.parquet, its columns of `dtypes` (conformed_part's); how many days and rows."""
    # In conformed_part's dtypes whatever the shuffle made of them: a cluster's shuffle hands string columns
    # back as objects, and the dtypes are written into each file (pandas' metadata), so into its bytes.
    part = part.astype(dtypes)
    part = part.sort_values([*DAY_COLUMNS, *sort_key], kind="stable").reset_index(drop=True)
    count = part[list(DAY_COLUMNS)].drop_duplicates().shape[0]
    if count:
        # Rows of a day together, so each day is written, then closed, once; one thread keeps the row order.
        # Row groups of a fixed size: else they follow the batches the partition arrives in (the shuffle's
        # pieces), and a day's bytes would depend on part_rows and on the other days of its partition.
        ds.write_dataset(pa.Table.from_pandas(part, preserve_index=False), out, format="parquet",
                         partitioning=PARTITIONING, max_partitions=max(count, 1024),
                         min_rows_per_group=ROW_GROUP_ROWS, max_rows_per_group=ROW_GROUP_ROWS,
                         basename_template="part-{i}.parquet", use_threads=False,
                         existing_data_behavior="overwrite_or_ignore")
    return pd.DataFrame({"days": [count], "rows": [len(part)]})


def bronze_entity(raw_dir: Path, entity: str, out: Path, key: bytes, part_rows: int) -> dict:
    """ingest's kept parts of `entity` typed into out/<entity>: YYYY=/MM=/DD= folders by created_dt, one file
    a day; a table without timestamps (hot lists) or rows is one file, part-0.parquet. Its rows and columns.

    Each raw part is typed on its own (Dask tasks), into a staging folder; the parts' schemas are unified;
    then the parts, cast to that schema, are shuffled by day into ceil(rows / part_rows) partitions, and
    each partition writes its days."""
    import dask
    import dask.dataframe as dd

    parts = kept_parts(raw_dir.resolve(), entity)
    # Absolute: Dask workers on a cluster read and write the parts, from their own working folder.
    target = (out / entity).resolve()
    staging = fresh_dir(out / f"{STAGING_PREFIX}{entity}").resolve()
    staged = [staging / path.name for path in parts]
    typed = dask.compute(*[dask.delayed(stage_part)(path, to, entity, key) for path, to in zip(parts, staged,
                                                                                                 strict=True)])
    rows = sum(n for _, n in typed)
    if not rows and entity not in OPTIONAL_ENTITIES:
        raise SystemExit(f"bronze: no valid {entity} records left after ingest (see metrics/ingest.json)")
    target.mkdir(parents=True)
    if not rows:  # e.g. a dump folder, which holds no subreddit metadata: an empty table of the schema's columns
        frame = typed_frame(pd.DataFrame(), entity, key)
        frame.to_parquet(target / "part-0.parquet", index=False)
        shutil.rmtree(staging)
        return {"rows": 0, "columns": len(frame.columns)}
    schema = common_schema([s for s, n in typed if n])
    if "created_dt" not in schema.names:  # hot lists: a short list each, small enough to hold
        frame = pd.concat([conformed_part(path, schema) for path in staged], ignore_index=True)
        frame.sort_values(ENTITIES[entity], kind="stable").reset_index(drop=True).to_parquet(
            target / "part-0.parquet", index=False)
    else:
        meta = conformed_part_meta(schema)
        frames = dd.from_map(conformed_part, staged, schema=schema, meta=meta)
        counts = pd.DataFrame({"days": pd.Series(dtype="int64"), "rows": pd.Series(dtype="int64")})
        frames.shuffle(list(DAY_COLUMNS), npartitions=partitions_for(rows, part_rows)).map_partitions(
            write_days, target, ENTITIES[entity], meta.dtypes.to_dict(), meta=counts).compute()
    shutil.rmtree(staging)
    return {"rows": rows, "columns": len(schema.names)}


def conformed_part_meta(schema: pa.Schema) -> pd.DataFrame:
    """An empty frame of `conformed_part`'s columns and dtypes: what Dask is told each part holds."""
    frame = schema.empty_table().to_pandas(types_mapper=_pandas_type)
    return frame.assign(**{name: pd.Series(dtype="str") for name in DAY_COLUMNS})


def bronze_entities(raw_dir: Path, out: Path, key: bytes, part_rows: int) -> dict:
    """Every entity's kept records typed into out/<entity> (emptied first); rows and columns per entity."""
    fresh_dir(out)
    return {entity: bronze_entity(raw_dir, entity, out, key, part_rows) for entity in ENTITIES}
