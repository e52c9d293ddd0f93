"""ingest: validate the raw Reddit exports or dump files (params ingest.source) line by line into data/raw/reddit/.

Kept records (Parquet parts per entity), the audit trail of duplicates and the quarantine with reasons:
reception.data.raw_records, streaming in chunks of ingest.part_rows records, copies resolved on Dask
(DASK_SCHEDULER_ADDRESS: reception.data.dask_runtime).
The counts go to metrics/ingest.json.
"""
from __future__ import annotations

from pathlib import Path

from reception.data.dask_runtime import dask_scheduler
from reception.data.raw_records import DumpScope, ingest_source
from reception.data.reports import write_report
from reception.params import load_params
from reception.paths import RAW_DIR


def main() -> None:
    params = load_params("ingest")
    with dask_scheduler("ingest"):
        report = ingest_source(Path(params["source"]), RAW_DIR, DumpScope.from_params(params), params["part_rows"])
    write_report("ingest", report)


if __name__ == "__main__":
    main()
