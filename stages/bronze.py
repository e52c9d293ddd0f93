"""bronze: typed Parquet per entity, partitioned by the UTC date of created_utc (YYYY=/MM=/DD=).

Typing, on Dask (DASK_SCHEDULER_ADDRESS: reception.data.dask_runtime), in partitions of about
ingest.part_rows rows: reception.data.typed_tables. Author names are pseudonymised (reception.data.pseudonyms)
with the key in the environment variable RECEPTION_AUTHOR_KEY. Without it bronze refuses to run, before it writes
anything, unless every file ingest read from params ingest.source is listed in data/public_sources.json
(public data whose authors are already pseudonyms: the sample, the corpus); then metrics/bronze.json says
"public development key". DVC does not see the key: after changing it, rebuild with
`dvc repro --force --single-item bronze && dvc repro`.
"""
from __future__ import annotations

from pathlib import Path

from reception.data.dask_runtime import dask_scheduler
from reception.data.pseudonyms import author_key
from reception.data.raw_records import DumpScope, read_files
from reception.data.reports import write_report
from reception.data.typed_tables import bronze_entities
from reception.params import load_params
from reception.paths import BRONZE_DIR, RAW_DIR


def main() -> None:
    ingest = load_params("ingest")
    source = Path(ingest["source"])
    key, key_source = author_key(source, read_files(source, DumpScope.from_params(ingest)))
    with dask_scheduler("bronze"):
        tables = bronze_entities(RAW_DIR, BRONZE_DIR, key, ingest["part_rows"])
    write_report("bronze", {"author_key": key_source, **tables})


if __name__ == "__main__":
    main()
