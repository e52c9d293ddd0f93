"""bronze: typed Parquet per entity, partitioned by the UTC date of created_utc (YYYY=/MM=/DD=).

Typing: reception.data.typed_tables. Author names are pseudonymised (reception.data.pseudonyms) with the key
in the environment variable RECEPTION_AUTHOR_KEY, else a public development key that metrics/bronze.json
names. DVC does not see the key: after changing it, rebuild with
`dvc repro --force --single-item bronze && dvc repro`.
"""
from __future__ import annotations

from reception.data.pseudonyms import author_key
from reception.data.reports import write_report
from reception.data.typed_tables import ENTITIES, typed_entity, write_partitioned
from reception.outputs import fresh_dir
from reception.paths import BRONZE_DIR, RAW_DIR


def main() -> None:
    fresh_dir(BRONZE_DIR)
    key, key_source = author_key()
    report = {"author_key": key_source}
    for entity in ENTITIES:
        frame = typed_entity(RAW_DIR / f"{entity}.ndjson", entity, key)
        write_partitioned(frame, BRONZE_DIR / entity)
        report[entity] = {"rows": len(frame), "columns": len(frame.columns)}
    write_report("bronze", report)


if __name__ == "__main__":
    main()
