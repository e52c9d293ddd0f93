"""interim: IMEDIA's wrangling of the silver comments (reception.data.wrangling), one Parquet file per step:
comments_live, comments_features, comments_winsorised, comments_clean_text (reception.paths names each)."""
from __future__ import annotations

import pandas as pd

from reception.data.reports import write_report
from reception.data.wrangling import interim_report, interim_steps
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import INTERIM_DIR, INTERIM_STEPS, SILVER_COMMENTS


def main() -> None:
    settings = load_params("interim")
    min_age_hours = load_params("label")["min_age_hours"]
    fresh_dir(INTERIM_DIR)
    comments = pd.read_parquet(SILVER_COMMENTS)
    steps = interim_steps(comments, settings, min_age_hours)
    for path, frame in zip(INTERIM_STEPS, steps, strict=True):
        frame.reset_index(drop=True).to_parquet(path, index=False)
    write_report("interim", interim_report(comments, steps, min_age_hours))


if __name__ == "__main__":
    main()
