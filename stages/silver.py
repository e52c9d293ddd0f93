"""silver: IMEDIA's model, dim_subreddit, dim_author, fact_comments, fact_posts (reception.data.star_schema)."""
from __future__ import annotations

from reception.data.reports import write_report
from reception.data.star_schema import silver_report, silver_tables
from reception.outputs import fresh_dir
from reception.paths import BRONZE_DIR, SILVER_DIR


def main() -> None:
    out = fresh_dir(SILVER_DIR)
    tables = silver_tables(BRONZE_DIR)
    for name, table in tables.items():
        table.to_parquet(out / f"{name}.parquet", index=False)
    write_report("silver", silver_report(tables))


if __name__ == "__main__":
    main()
