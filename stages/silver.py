"""silver: IMEDIA's model, dim_subreddit, dim_author, fact_comments, fact_posts (reception.data.star_schema),
each a folder of Parquet parts (reception.paths.silver_table), computed with Dask (reception.data.dask_runtime)."""
from __future__ import annotations

from functools import partial

import dask

from reception.data.dask_runtime import dask_scheduler, write_parts_later
from reception.data.reports import write_report
from reception.data.star_schema import part_counts, silver_report, silver_tables
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import BRONZE_DIR, SILVER_DIR, silver_table


def main() -> None:
    partition_rows = load_params("silver")["partition_rows"]
    fresh_dir(SILVER_DIR)
    with dask_scheduler("silver"):
        tables = silver_tables(BRONZE_DIR, partition_rows)
        writes = {name: write_parts_later(table, silver_table(name), partial(part_counts, name))
                  for name, table in tables.items()}
        counts = dask.compute(writes)[0]
    write_report("silver", silver_report(counts))


if __name__ == "__main__":
    main()
