"""Where the data stages' Dask work runs: on a Dask cluster when the environment names one, else here.

`DASK_SCHEDULER_ADDRESS` (e.g. tcp://scheduler:8786) sends every data stage's Dask graph to that cluster;
it is read from the environment, not params.yaml, because where the work runs never changes what it
writes (dvc.lock stays the same). Without it the graph runs in this process on the local scheduler below,
with nothing to start. docs/scaling.md says how to run a cluster and what each setting costs.

Dask's own settings apply as usual (its config files or DASK_* variables): DASK_TEMPORARY_DIRECTORY is where
a worker or the local shuffle spills to disk.

The helpers below keep the stages' outputs deterministic: partitions fixed by the data and the params (rows
per partition, a fixed hash of a key), each sorted before it is written as one Parquet part.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dask.base import named_schedulers

SCHEDULER_ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS"
# The local scheduler when no cluster is named (Dask's own DASK_SCHEDULER overrides it). Partitions are pandas
# frames and pandas' string work holds the GIL, yet on the corpus threads were the fastest (pyarrow's reads,
# writes and shuffles release it); processes took 2-2.5x the time and 2-3x the memory, partitions pickled
# between them; synchronous took 1.2-1.4x the time for the least memory. docs/scaling.md has the numbers.
LOCAL_SCHEDULER = "threads"


@contextmanager
def dask_scheduler(stage: str) -> Iterator[str]:
    """Run the Dask computations inside on the cluster at DASK_SCHEDULER_ADDRESS, or locally; yields
    where ("tcp://..." or the local scheduler's name) and says it on stdout."""
    address = os.environ.get(SCHEDULER_ADDRESS_ENV)
    if address:
        from distributed import Client  # imported only when a cluster is used: it starts nothing by itself

        with Client(address, set_as_default=True) as client:
            workers = len(client.scheduler_info().get("workers", {}))
            print(f"{stage}: on the Dask cluster at {address} ({workers} workers)")
            yield address
        return
    local = dask.config.get("scheduler", None) or LOCAL_SCHEDULER  # Dask's own setting (DASK_SCHEDULER) first
    # The scheduler's function and the shuffle named, not looked up: the lookups import distributed to look
    # for a client (0.4 s). Locally a shuffle goes through disk (DASK_TEMPORARY_DIRECTORY), never all in memory.
    shuffle = dask.config.get("dataframe.shuffle.method", None) or "disk"
    if spill := dask.config.get("temporary-directory", None):  # DASK_TEMPORARY_DIRECTORY: Dask does not create it
        Path(spill).mkdir(parents=True, exist_ok=True)
    with dask.config.set({"scheduler": named_schedulers.get(local, local), "dataframe.shuffle.method": shuffle}):
        yield local


PART_TEMPLATE = "part.{:05d}.parquet"  # zero-padded: a folder's parts read back in their order, by name


def partitions_for(rows: int, partition_rows: int) -> int:
    """How many partitions hold `rows` at about `partition_rows` each (a stage's params `partition_rows`):
    a function of the data alone, so that a re-run cuts the same partitions."""
    if partition_rows < 1:
        raise SystemExit(f"partition_rows must be a whole number >= 1, got {partition_rows}")
    return max(1, -(-rows // partition_rows))


def read_parts(folder: Path, columns: list[str] | None = None) -> dd.DataFrame:
    """A folder of Parquet parts (or a hive-partitioned folder), one partition per file, in name order."""
    # An absolute path: a worker of a cluster runs elsewhere, it reads what this process means.
    return dd.read_parquet(Path(folder).resolve(), columns=columns, split_row_groups=False)


def read_grouped(folder: Path, partition_rows: int) -> tuple[dd.DataFrame, int]:
    """A folder of many small Parquet files (bronze: one per day) as partitions of whole files, consecutive in
    path order, of about `partition_rows` rows each (from the files' footers): one partition per file would
    cost a task per day at every step. The hive folder names (YYYY=/MM=/DD=) are not read as columns.
    Returns the frame and its rows."""
    files = sorted(Path(folder).resolve().rglob("*.parquet"))
    if not files:
        raise SystemExit(f"{folder} holds no Parquet file")
    groups, rows, total = [[]], 0, 0
    for path in files:
        size = pq.ParquetFile(path).metadata.num_rows
        if groups[-1] and rows + size > partition_rows:
            groups.append([])
            rows = 0
        groups[-1].append(path)
        rows, total = rows + size, total + size
    frame = dd.from_map(_read_files, groups, meta=_read_files(files[:1]).iloc[:0], enforce_metadata=False)
    return frame, total


HIVE_COLUMNS = ("YYYY", "MM", "DD")  # what pyarrow reads from bronze's folder names


def _read_files(paths: list[Path]) -> pd.DataFrame:
    frame = pd.read_parquet([str(path) for path in paths])  # pyarrow reads the files in parallel
    return frame.drop(columns=[c for c in HIVE_COLUMNS if c in frame])


def by_thread(frame: dd.DataFrame, npartitions: int, key: str = "post_id", order: str = "comment_id") -> dd.DataFrame:
    """Every row of a `key` (a whole thread) in one of `npartitions` partitions, chosen by a hash of the key
    (pandas' fixed hash: the same partition on any machine, in any run), each partition sorted by `order`."""
    return frame.shuffle(on=key, npartitions=npartitions).map_partitions(sorted_by, order)


def sorted_by(frame: pd.DataFrame, order: str | list[str]) -> pd.DataFrame:
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def write_parts(frame: dd.DataFrame | pd.DataFrame, folder: Path,
                stats: Callable[[pd.DataFrame], dict] | None = None) -> list:
    """Write each partition as folder/part.NNNNN.parquet (pandas' to_parquet, without its index) and return,
    per part, `stats(part)` (what the stage reports, computed while the part is in memory) or None."""
    return dask.compute(*write_parts_later(frame, folder, stats))


def write_parts_later(frame: dd.DataFrame | pd.DataFrame, folder: Path,
                      stats: Callable[[pd.DataFrame], dict] | None = None) -> list:
    """write_parts' work as delayed values, to compute with other work that shares their input."""
    folder = folder.resolve()  # as in read_parts: where this process means
    folder.mkdir(parents=True, exist_ok=True)
    # A small table built by pandas is one part: Dask's from_pandas would turn its object columns to strings.
    parts = frame.to_delayed() if isinstance(frame, dd.DataFrame) else [frame]
    return [dask.delayed(_write_part)(part, part_file(folder, i), stats) for i, part in enumerate(parts)]


def part_file(folder: Path, number: int) -> Path:
    return folder / PART_TEMPLATE.format(number)


def concat_parts(parts: list[Path], out: Path) -> None:
    """The rows of `parts` (written by write_parts), in their order, as one Parquet file, one part in memory
    at a time; one part alone gives the bytes pandas' to_parquet gives."""
    writer = None
    try:
        for path in parts:
            table = pa.Table.from_pandas(pd.read_parquet(path), preserve_index=False)
            writer = writer or pq.ParquetWriter(out, table.schema, compression="snappy")
            writer.write_table(table)
    finally:
        if writer:
            writer.close()


def _write_part(part: pd.DataFrame, path: Path, stats) -> dict | None:
    part.to_parquet(path, index=False)
    return stats(part) if stats else None


def map_parts(frame: dd.DataFrame, func: Callable[..., pd.DataFrame], *args) -> dd.DataFrame:
    """func(partition, *args) on every partition. Its columns are func's on the frame's empty partition: Dask
    would otherwise call func on made-up rows, which a real step may reject."""
    return frame.map_partitions(func, *args, meta=func(frame._meta, *args))
