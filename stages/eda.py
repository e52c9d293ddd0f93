"""eda: IMEDIA's exploratory analysis (reception.data.exploration) as plot data for `dvc plots show`
(metrics/eda/*.csv)."""
from __future__ import annotations

import pandas as pd

from reception.data.exploration import eda_tables
from reception.data.splits import read_split
from reception.outputs import fresh_dir
from reception.params import load_params
from reception.paths import EDA_DIR


def main() -> None:
    bins = load_params("eda")["bins"]
    frame = pd.concat([read_split(split) for split in ("test", "train", "val")])
    frame = frame.sort_values("comment_id").reset_index(drop=True)
    out = fresh_dir(EDA_DIR)
    tables = eda_tables(frame, bins)
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    print(f"eda: {len(frame)} comments, {len(tables)} plot tables in {EDA_DIR}")


if __name__ == "__main__":
    main()
