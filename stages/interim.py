"""interim: IMEDIA's wrangling of the silver comments (reception.data.wrangling), one folder of Parquet parts per
step: comments_live, comments_features, comments_winsorised, comments_clean_text (reception.paths names each).

Each step is computed with Dask (reception.data.dask_runtime), partition by partition of whole threads, and
written before the next one reads it: no step holds the whole table.
"""
from __future__ import annotations

import dask

from reception.data import wrangling as steps
from reception.data.dask_runtime import dask_scheduler, map_parts, read_parts, write_parts, write_parts_later
from reception.data.reports import write_report
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import INTERIM_DIR, INTERIM_STEPS, SILVER_COMMENTS


def with_winsor_counts(step2):
    return {**steps.step_counts(step2), "winsor": steps.winsor_counts(step2)}


def main() -> None:
    settings = load_params("interim")
    min_age_hours = load_params("label")["min_age_hours"]
    fresh_dir(INTERIM_DIR)
    live, features, winsorised, clean = INTERIM_STEPS
    with dask_scheduler("interim"):
        silver = read_parts(SILVER_COMMENTS)
        rows_in, immature = dask.compute(silver.shape[0], silver.map_partitions(
            steps.is_immature, min_age_hours, meta=("immature", "bool")).sum())
        comments = steps.interim_partitions(silver, settings["partition_rows"])
        step1 = map_parts(comments, steps.live_comments_in_context, min_age_hours)
        counts1 = write_parts(step1, live, steps.step_counts)
        step2 = map_parts(read_parts(live), steps.add_features, settings["min_text_len"])
        counts2 = write_parts(step2, features, with_winsor_counts)
        bounds = steps.winsor_bounds([part["winsor"] for part in counts2], settings["score_quantiles"],
                               settings["text_len_quantile"])
        step3 = map_parts(read_parts(features), steps.winsorise, bounds)
        step4 = map_parts(step3, steps.add_clean_text, settings["min_clean_text_len"])
        counts3, counts4 = dask.compute(write_parts_later(step3, winsorised, steps.step_counts),
                                        write_parts_later(step4, clean, steps.step_counts))
    write_report("interim", steps.interim_report(int(rows_in), int(immature), [counts1, counts2, counts3, counts4],
                                           min_age_hours))


if __name__ == "__main__":
    main()
