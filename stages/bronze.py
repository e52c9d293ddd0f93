"""bronze: typed Parquet per entity, partitioned by the UTC date of created_utc (YYYY=/MM=/DD=).

No column is lost: every field of the validated raw records becomes a typed, nullable column.
Reddit's `edited` (false or an epoch) becomes `edited` (bool) plus `edited_utc` (float, null if never).

Author names stop at raw: from here on `author` is a keyed hash (HMAC-SHA256) of the name, the same
name giving the same pseudonym, so per-author counts still work but a name cannot be looked up without
the key. The key comes from the environment (AUTHOR_KEY_VAR); without it a public development key is
used, fit only for the public sample, and metrics/bronze.json says so. DVC does not see the key:
after changing it, rebuild with
`dvc repro --force --single-item bronze && dvc repro`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from reception.outputs import fresh_dir, write_json
from reception.paths import BRONZE_DIR, RAW_DIR, stage_metrics

# entity -> sort key, so that the files (and their DVC hashes) do not depend on input order.
ENTITIES = {
    "comments": ["comment_id"],
    "posts": ["id"],
    "subreddits": ["subreddit"],
    "hot_sublists": ["_source_file", "_source_line"],
}
AUTHOR_KEY_VAR = "RECEPTION_AUTHOR_KEY"
DEVELOPMENT_KEY = "reception-public-development-key"
PSEUDONYM_HEX_CHARS = 16  # 64 bits: no collision expected among millions of authors
PARTITIONING = ds.partitioning(pa.schema([("YYYY", pa.string()), ("MM", pa.string()), ("DD", pa.string())]),
                               flavor="hive")


def to_typed_frame(raw: pd.DataFrame, sort_key: list[str]) -> pd.DataFrame:
    frame = raw.copy()
    if "edited" in frame:
        edited = frame["edited"]
        is_epoch = edited.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        frame["edited_utc"] = edited.where(is_epoch).astype("float64")
        frame["edited"] = is_epoch | edited.map(lambda v: v is True)
    frame = frame.convert_dtypes(dtype_backend="pyarrow")
    if "created_utc" in frame:
        frame["created_utc"] = frame["created_utc"].astype("float64[pyarrow]")
        frame["created_dt"] = pd.to_datetime(frame["created_utc"].astype("float64"), unit="s", utc=True)
    return frame.sort_values(sort_key, kind="stable").reset_index(drop=True)


def author_key() -> tuple[bytes, str]:
    """The pseudonymisation key, and where it came from (for the metrics; never the key itself)."""
    key = os.environ.get(AUTHOR_KEY_VAR)
    if key:
        return key.encode(), AUTHOR_KEY_VAR
    print(f"bronze: {AUTHOR_KEY_VAR} is not set: authors are pseudonymised with the public development key "
          "(fine for the public sample, not for data you extract)", file=sys.stderr)
    return DEVELOPMENT_KEY.encode(), "public development key"


def pseudonymise(authors: pd.Series, key: bytes) -> pd.Series:
    """Each name -> 'u_' + its keyed hash; a missing author stays missing."""
    def pseudonym(name: str) -> str:
        return "u_" + hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]
    return authors.map(pseudonym, na_action="ignore")


def write_entity(frame: pd.DataFrame, out: Path) -> None:
    if "created_dt" not in frame:  # hot lists carry no timestamp: one unpartitioned file
        out.mkdir(parents=True)
        frame.to_parquet(out / "part-0.parquet", index=False)
        return
    dates = frame["created_dt"].dt
    partitioned = frame.assign(YYYY=dates.strftime("%Y"), MM=dates.strftime("%m"), DD=dates.strftime("%d"))
    table = pa.Table.from_pandas(partitioned, preserve_index=False)
    # One thread keeps the row order inside each file, so a re-run writes identical bytes.
    ds.write_dataset(table, out, format="parquet", partitioning=PARTITIONING,
                     basename_template="part-{i}.parquet", use_threads=False)


def main() -> None:
    fresh_dir(BRONZE_DIR)
    key, key_source = author_key()
    report = {"author_key": key_source}
    for entity, sort_key in ENTITIES.items():
        with open(RAW_DIR / f"{entity}.ndjson") as lines:
            raw = pd.DataFrame.from_records([json.loads(line) for line in lines])
        if raw.empty:
            raise SystemExit(f"bronze: no valid {entity} records left after ingest (see metrics/ingest.json)")
        if "author" in raw:
            raw["author"] = pseudonymise(raw["author"], key)
        frame = to_typed_frame(raw, sort_key)
        write_entity(frame, BRONZE_DIR / entity)
        report[entity] = {"rows": len(frame), "columns": len(frame.columns)}
        print(f"bronze {entity:13s} rows={len(frame):6d} columns={len(frame.columns)}")
    write_json(stage_metrics("bronze"), report)


if __name__ == "__main__":
    main()
