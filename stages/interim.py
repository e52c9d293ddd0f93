"""interim: IMEDIA's wrangling of the silver comments (reception.data.wrangling.wrangle), one folder of Parquet
parts per step: comments_live, comments_features, comments_winsorised, comments_clean_text (reception.paths
names each).

Each step is computed with Dask (reception.data.dask_runtime), partition by partition of whole threads, and
written before the next one reads it: no step holds the whole table.
"""
from __future__ import annotations

from reception.data.dask_runtime import dask_scheduler
from reception.data.reports import write_report
from reception.data.wrangling import wrangle
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import INTERIM_DIR, INTERIM_STEPS, SILVER_COMMENTS


def main() -> None:
    settings, min_age_hours = load_params("interim"), load_params("label")["min_age_hours"]
    fresh_dir(INTERIM_DIR)
    with dask_scheduler("interim"):
        report = wrangle(SILVER_COMMENTS, INTERIM_STEPS, settings, min_age_hours)
    write_report("interim", report)


if __name__ == "__main__":
    main()
