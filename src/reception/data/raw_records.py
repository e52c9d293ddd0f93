"""Raw Reddit records: each line validated against its entity's schema, copies of one id resolved.

A source folder holds NDJSON exports (`<entity>/*.ndjson`, what `reception extract` writes), per-subreddit
dump files (`<Subreddit>_comments.zst`, `<Subreddit>_submissions.zst`: reception.reddit.dumps, which maps
their fields to the raw schema), or both. Every line read ends in exactly one place: kept (the Parquet
parts <entity>/part-NNNNNN.parquet, each record as its JSON text with its source file and line), another
copy of a kept id (duplicates.ndjson, the audit trail), quarantined with its reason (quarantine.ndjson,
without its author: `quarantine_entry`), or out of scope (a dump line outside the `DumpScope` the params
ask for): read = kept + duplicates + quarantined + out_of_scope, which `ingest_source` checks. A dump file
whose compressed stream was cut is read up to the cut, and the cut is quarantined as one entry of its own
(what followed it cannot be counted).

A score keeps changing after it is read, and `reception extract` appends a new batch each run: of the
copies of one id, the latest observation (`observed_utc`) is kept; copies without it count as the
oldest, and among equals the first read wins. A comment or post that any copy shows deleted or removed
keeps neither its text nor its author, in the kept record and in the audit trail alike: what its
writer took back leaves every layer built from here on.

No entity is held whole: lines are read as a stream into Parquet chunks of `part_rows` records, the
chunks are shuffled by key with Dask so that all copies of an id meet in one partition, and each partition
is resolved in pandas (`resolve_partition`). docs/scaling.md says why it is partitioned this way.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reception.data.text import is_deleted
from reception.outputs import fresh_dir
from reception.progress import Progress
from reception.reddit import dumps

NUMBER = (int, float)
ID = "non-empty string"  # an identifier: a string with something in it
REQUIRED, OPTIONAL = True, False

# entity -> (key fields, {field: (accepted types, required)}). Optional fields may be absent or null;
# fields not listed are kept as they are.
SCHEMAS = {
    "comments": (("comment_id",), {
        "comment_id": (ID, REQUIRED), "post_id": (ID, REQUIRED), "body": (str, REQUIRED),
        "score": (int, REQUIRED), "created_utc": (NUMBER, REQUIRED), "author": (str, OPTIONAL),
        "parent_id": (str, OPTIONAL), "link_id": (str, OPTIONAL), "is_submitter": (bool, OPTIONAL),
    }),
    "posts": (("id",), {
        "id": (ID, REQUIRED), "subreddit": (ID, REQUIRED), "created_utc": (NUMBER, REQUIRED),
        "score": (int, OPTIONAL), "num_comments": (int, OPTIONAL), "author": (str, OPTIONAL),
        "title": (str, OPTIONAL), "selftext": (str, OPTIONAL), "over_18": (bool, OPTIONAL),
        # Reddit writes `edited` as false or as the edit's epoch seconds.
        "edited": ((bool, int, float), OPTIONAL), "observed_utc": (NUMBER, OPTIONAL),
    }),
    "subreddits": (("subreddit",), {
        "subreddit": (ID, REQUIRED), "subscribers": (int, OPTIONAL),
        "created_utc": (NUMBER, OPTIONAL), "over18": (bool, OPTIONAL), "observed_utc": (NUMBER, OPTIONAL),
    }),
    # A hot list is one file: the same subreddit in two lists is no duplicate.
    "hot_sublists": (("_source_file", "subreddit"), {
        "subreddit": (ID, REQUIRED), "strategy": (str, OPTIONAL),
        "posts_limit": (int, OPTIONAL), "include_nsfw": (bool, OPTIONAL), "observed_utc": (NUMBER, OPTIONAL),
    }),
}
# entity -> (the field that shows a deletion, the fields a deletion drops). The showing field keeps
# Reddit's marker ("[deleted]" / "[removed]"), so later stages still see the record as deleted.
DELETABLE = {
    "comments": ("body", ("author",)),
    "posts": ("selftext", ("author", "title")),
}
# Rows per Parquet chunk and, on average, per partition of kept records (params.yaml: ingest.part_rows).
DEFAULT_PART_ROWS = 100_000
STAGING_PREFIX = "_staging-"  # out/_staging-<entity>: the chunks and audit-trail shares, removed when done
# A valid record as the chunks hold it: `key` the JSON list of its key fields, `marker` Reddit's
# "[deleted]"/"[removed]" if this copy shows one, `read_order` its place among the entity's valid lines.
CHUNK_SCHEMA = pa.schema([("key", pa.string()), ("observed_utc", pa.float64()), ("read_order", pa.int64()),
                          ("marker", pa.string()), ("source_file", pa.string()), ("source_line", pa.int64()),
                          ("record", pa.string())])
RESOLVED_COUNTS = ("kept", "deleted", "duplicates", "duplicates_conflicting")


def _type_ok(value, accepted) -> bool:
    if accepted == ID:
        return isinstance(value, str)
    accepted = accepted if isinstance(accepted, tuple) else (accepted,)
    if isinstance(value, bool) and bool not in accepted:
        return False  # JSON true/false is no number, though Python's bool is an int
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, accepted)


def parse(raw: bytes) -> tuple[dict | None, str | None]:
    """(the line's JSON object, None), or (None, why it is not one)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "invalid UTF-8"
    if not text.strip():
        return None, "empty line"
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None, "malformed JSON"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, None


def check(record: dict, fields: dict) -> str | None:
    """Why the record breaks its entity's schema, or None."""
    for name, (accepted, required) in fields.items():
        value = record.get(name)
        if value is None:
            if required:
                return f"missing field: {name}"
            continue
        if not _type_ok(value, accepted):
            return f"wrong type: {name}"
        if accepted == ID and not value.strip():
            return f"empty field: {name}"
    return None


def validate(raw: bytes, fields: dict) -> tuple[dict | None, str | None]:
    """(record, None) for a valid line, (None, reason) for one to quarantine."""
    record, reason = parse(raw)
    if record is not None:
        reason = check(record, fields)
    return (None, reason) if reason else (record, None)


@dataclass(frozen=True)
class DumpScope:
    """Which dump records ingest reads (params ingest.subreddits, ingest.since, ingest.until): subreddits
    by name, case-insensitive (None: all), and created_utc in [since, until) (None: unbounded). Exports are
    not filtered: `reception extract` already read only what was asked for."""
    subreddits: frozenset[str] | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def from_params(cls, params: dict) -> DumpScope:
        subreddits = params.get("subreddits")
        return cls(frozenset(s.lower() for s in subreddits) if subreddits else None,
                   _epoch(params.get("since")), _epoch(params.get("until")))

    def reads_file(self, path: Path) -> bool:
        return self.subreddits is None or dumps.subreddit_of(path).lower() in self.subreddits

    def holds(self, record: dict) -> bool:
        return dumps.in_scope(record, self.subreddits, self.since, self.until)


def _epoch(day: str | date | None) -> float | None:
    """A UTC date (YAML gives a date for 2021-01-31, a string if quoted) as epoch seconds at its start."""
    if day is None:
        return None
    day = day if isinstance(day, date) else date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _export_lines(path: Path, fields: dict) -> Iterator[tuple[int, bytes, dict | None, str | None]]:
    for line_no, raw in enumerate(path.read_bytes().splitlines(), start=1):
        yield line_no, raw, *validate(raw, fields)


def _dump_lines(path: Path, entity: str, fields: dict, scope: DumpScope, progress: Progress | None = None):
    """As _export_lines, with the dump's fields mapped to the raw schema; (line, raw, None, None) for a
    record out of scope."""
    for line_no, raw in dumps.read_lines(path, progress):
        record, reason = parse(raw)
        if record is None:
            yield line_no, raw, None, reason
            continue
        record = dumps.to_raw(entity, record)
        if not scope.holds(record):
            yield line_no, raw, None, None
        elif reason := check(record, fields):
            yield line_no, raw, None, reason
        else:
            yield line_no, raw, record, None


def entity_files(source: Path, entity: str, scope: DumpScope = DumpScope()) -> tuple[list[Path], list[Path]]:
    """The entity's export files and its dump files in scope: what ingest reads of it."""
    exports = sorted((source / entity).glob("*.ndjson"))
    return exports, [p for p in dumps.dump_files(source, entity) if scope.reads_file(p)]


def read_files(source: Path, scope: DumpScope = DumpScope()) -> list[Path]:
    """Every file ingest reads under `source`, for every entity."""
    return [path for entity in SCHEMAS for files in entity_files(source, entity, scope) for path in files]


def quarantine_entry(entity: str, source_file: str, line: int, raw: bytes, reason: str) -> dict:
    """A quarantined line as quarantine.ndjson keeps it: where it was and why, and none of its author.

    A line that parses as a JSON object keeps its fields but those about its author (`author`, and in dumps
    `author_fullname`, `author_flair_text`, ...). Any other line (cut, malformed, not UTF-8) cannot be
    told apart into fields, so it keeps only its sha256 and its length in bytes: enough to find it again
    in the source, nothing of what it says.
    """
    entry = {"entity": entity, "source_file": source_file, "line": line, "reason": reason}
    record, _ = parse(raw)
    if record is None:
        return entry | {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    return entry | {"record": {k: v for k, v in record.items() if not k.lower().startswith("author")}}


def ingest_entity(source: Path, entity: str, out: Path, scope: DumpScope = DumpScope(),
                  part_rows: int = DEFAULT_PART_ROWS) -> dict:
    """Read, validate and resolve one entity's files into `out`: kept parts in out/<entity>/, the other
    copies appended to out/duplicates.ndjson, quarantined lines to out/quarantine.ndjson; its counts."""
    exports, dump_files = entity_files(source, entity, scope)
    all_dumps = [p for e in dumps.DUMP_SUFFIXES for p in dumps.dump_files(source, e)]
    entity_dumps = dumps.dump_files(source, entity)
    if not exports and not all_dumps:
        raise SystemExit(f"ingest: no *.ndjson files in '{source / entity}' and no dump files in '{source}' "
                         "(set params.yaml: ingest.source to your export or dump folder)")
    # Absolute: Dask workers on a cluster write the parts, from their own working folder.
    staging = fresh_dir(out / f"{STAGING_PREFIX}{entity}").resolve()
    counts, reasons = _read_entity(source, entity, exports, dump_files, scope, out, staging, part_rows)
    counts.update(_resolve_copies(entity, staging, out, counts["valid"], part_rows))
    shutil.rmtree(staging)
    report = {"files": len(exports) + len(dump_files), "lines_read": counts["lines_read"], "kept": counts["kept"],
              "duplicates": counts["duplicates"], "duplicates_conflicting": counts["duplicates_conflicting"],
              "deleted": counts["deleted"], "quarantined": counts["quarantined"],
              "quarantine_reasons": dict(sorted(reasons.items()))}
    if all_dumps:  # counts only dumps have: an export source's report keeps its shape
        report |= {"out_of_scope": counts["out_of_scope"], "files_cut": counts["files_cut"],
                   "dump_files_skipped": len(entity_dumps) - len(dump_files)}
    return report


class _Chunks:
    """The valid records of one entity in read order, written to Parquet files of `part_rows` rows each:
    each record as its JSON text beside what resolving its copies needs."""

    def __init__(self, entity: str, folder: Path, part_rows: int):
        self.key_fields = SCHEMAS[entity][0]
        self.shown_in = DELETABLE.get(entity, (None,))[0]
        self.folder, self.part_rows = folder, part_rows
        self.rows, self.written = [], 0

    def add(self, record: dict) -> None:
        observed = record.get("observed_utc")
        shown = record.get(self.shown_in) if self.shown_in else None
        self.rows.append((
            json.dumps([record[k] for k in self.key_fields], ensure_ascii=False),
            # `latest`'s order: a copy without a (true) observed_utc counts as the oldest
            float(observed) if isinstance(observed, NUMBER) and observed else None,
            self.written + len(self.rows),
            shown.strip() if shown and is_deleted(shown) else None,
            record["_source_file"], record["_source_line"],
            json.dumps(record, ensure_ascii=False)))
        if len(self.rows) == self.part_rows:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            columns = list(zip(*self.rows, strict=True))
            table = pa.Table.from_arrays([pa.array(c, type=t) for c, t in zip(columns, CHUNK_SCHEMA.types,
                                                                              strict=True)], schema=CHUNK_SCHEMA)
            pq.write_table(table, self.folder / f"chunk-{self.written // self.part_rows:06d}.parquet")
            self.written += len(self.rows)
            self.rows = []


def _read_entity(source: Path, entity: str, exports: list[Path], dump_files: list[Path], scope: DumpScope,
                 out: Path, staging: Path, part_rows: int) -> tuple[Counter, Counter]:
    """Every line of the entity's files, in order: quarantined (to out/quarantine.ndjson at once), out of
    scope (counted) or valid (to the chunks in `staging`). Nothing is held but one chunk."""
    fields = SCHEMAS[entity][1]
    counts, reasons, chunks = Counter(), Counter(), _Chunks(entity, staging, part_rows)
    # Dumps run to GBs: the compressed bytes read of the entity's dump files, with a rate and an ETA, on stderr.
    progress = Progress(f"ingest {entity} ({len(dump_files)} dump files)", sum(p.stat().st_size for p in dump_files),
                        "MB", scale=1e6) if dump_files else None
    sources = [(p, _export_lines(p, fields)) for p in exports] + \
              [(p, _dump_lines(p, entity, fields, scope, progress)) for p in dump_files]
    with open(out / "quarantine.ndjson", "a") as quarantine:
        for path, lines in sources:
            rel = path.relative_to(source).as_posix()
            try:
                for line_no, raw, record, reason in lines:
                    counts["lines_read"] += 1
                    if reason is not None:
                        counts["quarantined"] += 1
                        reasons[reason] += 1
                        quarantine.write(json.dumps(quarantine_entry(entity, rel, line_no, raw, reason)) + "\n")
                    elif record is None:
                        counts["out_of_scope"] += 1
                    else:
                        counts["valid"] += 1
                        chunks.add({**record, "_source_file": rel, "_source_line": line_no})
            except dumps.TruncatedDump as cut:
                counts["files_cut"] += 1
                quarantine.write(json.dumps({"entity": entity, "source_file": rel, "line": None,
                                             "reason": f"file cut: {cut}"}) + "\n")
    chunks.flush()
    return counts, reasons


def _resolve_copies(entity: str, staging: Path, out: Path, valid: int, part_rows: int) -> Counter:
    """Shuffle the chunks by key into ceil(valid / part_rows) partitions, so that every copy of an id lands
    in one partition, and resolve each partition (`resolve_partition`) into out/<entity>/part-NNNNNN.parquet
    and its share of the audit trail; then append the shares to out/duplicates.ndjson in partition order."""
    kept_dir = fresh_dir(out / entity).resolve()
    if not valid:
        return Counter()
    import dask.dataframe as dd  # the data stages' engine; imported here, so `validate` and friends stay light

    from reception.data.dask_runtime import partitions_for

    partitions = partitions_for(valid, part_rows)
    chunks = dd.read_parquet(sorted(staging.glob("chunk-*.parquet")))
    # In pandas per partition after the shuffle: groupby().apply on Dask frames misbehaves under pandas 3.
    shares = chunks.shuffle("key", npartitions=partitions).map_partitions(
        resolve_partition, entity, kept_dir, staging, meta=pd.DataFrame({k: pd.Series(dtype="int64")
                                                                           for k in RESOLVED_COUNTS}))
    counts = Counter(shares.compute().sum().astype(int).to_dict())
    with open(out / "duplicates.ndjson", "ab") as duplicates:
        for number in range(partitions):
            with open(staging / f"duplicates-{number:06d}.ndjson", "rb") as share:
                shutil.copyfileobj(share, duplicates)
    return counts


def resolve_partition(part: pd.DataFrame, entity: str, kept_dir: Path, staging: Path,
                      partition_info: dict | None = None) -> pd.DataFrame:
    """Resolve the copies in one partition (every copy of its ids): the kept record of each id (`latest`,
    redacted if any copy shows a deletion) to kept_dir/part-<number>.parquet, in the order each id was first
    read, and the other copies' audit-trail entries to staging/duplicates-<number>.ndjson; the counts.
    Dask names the partition in `partition_info`; the same input gives the same files, byte for byte."""
    number = partition_info["number"] if partition_info else 0
    part = part.sort_values("read_order", kind="stable").reset_index(drop=True)
    first = part.groupby("key", sort=False)["read_order"].transform("min")
    copies = part.groupby("key", sort=False)["read_order"].transform("size")
    markers = part.dropna(subset=["marker"]).drop_duplicates("key").set_index("key")["marker"]
    marker = part["key"].map(markers)
    observed = part["observed_utc"].astype("float64").fillna(-math.inf)
    # Latest observation first, then the first read: the first row of each key is the one kept.
    ranked = part.assign(_observed=observed).sort_values(["key", "_observed", "read_order"],
                                                         ascending=[True, False, True], kind="stable")
    is_kept = pd.Series(False, index=part.index)
    is_kept[ranked.drop_duplicates("key").index] = True
    kept = part[is_kept].assign(_first=first[is_kept]).sort_values("_first", kind="stable")
    records = [text if pd.isna(m) else json.dumps(redact(entity, json.loads(text), m), ensure_ascii=False)
               for text, m in zip(kept["record"], marker[kept.index], strict=True)]
    pq.write_table(pa.table({"key": pa.array(kept["key"].tolist(), pa.string()),
                             "record": pa.array(records, pa.string())}),
                   kept_dir / f"part-{number:06d}.parquet")
    with open(staging / f"duplicates-{number:06d}.ndjson", "w") as share:
        conflicting = _write_duplicates(entity, part[copies > 1], is_kept, marker, share)
    return pd.DataFrame({"kept": [len(kept)], "deleted": [int(marker[kept.index].notna().sum())],
                         "duplicates": [len(part) - len(kept)], "duplicates_conflicting": [conflicting]})


def _write_duplicates(entity: str, copied: pd.DataFrame, is_kept: pd.Series, marker: pd.Series, share) -> int:
    """The audit trail of the ids read more than once (rows in read order): one entry per copy not kept;
    how many of them differ from the kept one."""
    conflicting = 0
    if copied.empty:
        return conflicting
    copied = copied.assign(_first=copied.groupby("key", sort=False)["read_order"].transform("min"))
    for _, group in copied.sort_values(["_first", "read_order"], kind="stable").groupby("_first", sort=False):
        records = [json.loads(text) for text in group["record"]]
        kept = records[int(is_kept[group.index].to_numpy().argmax())]
        key_marker = marker[group.index[0]]
        key_marker = None if pd.isna(key_marker) else key_marker
        for record in records:
            if record is kept:
                continue
            identical = _content(record) == _content(kept)
            conflicting += not identical
            share.write(json.dumps({
                "entity": entity, "key": json.loads(group["key"].iloc[0]), "identical": identical,
                "first_source_file": records[0]["_source_file"], "first_line": records[0]["_source_line"],
                "kept_source_file": kept["_source_file"], "kept_line": kept["_source_line"],
                "record": redact(entity, record, key_marker)}, ensure_ascii=False) + "\n")
    return conflicting


def kept_parts(raw_dir: Path, entity: str) -> list[Path]:
    """The Parquet parts of an entity's kept records (columns `key` and `record`, its JSON text)."""
    return sorted((raw_dir / entity).glob("part-*.parquet"))


def kept_records(raw_dir: Path, entity: str) -> Iterator[dict]:
    """An entity's kept records, one part at a time (parts by key hash; inside, in the order first read)."""
    for path in kept_parts(raw_dir, entity):
        yield from map(json.loads, pq.read_table(path, columns=["record"])["record"].to_pylist())


def redact(entity: str, record: dict, marker: str | None) -> dict:
    if marker is None:
        return record
    shown_in, dropped = DELETABLE[entity]
    return {**record, shown_in: marker, **dict.fromkeys(dropped)}


def _content(record: dict) -> dict:
    """What a copy says about its thing: not where or when it was read."""
    return {k: v for k, v in record.items() if not k.startswith("_source") and k != "observed_utc"}


def ingest_source(source: Path, out: Path, scope: DumpScope = DumpScope(), part_rows: int = DEFAULT_PART_ROWS) -> dict:
    """Validate every entity's files under `source` into `out` (emptied first); the counts per entity and
    their total."""
    if not source.is_dir():
        raise SystemExit(f"ingest: source folder '{source}' does not exist "
                         "(set params.yaml: ingest.source to your Reddit export folder)")
    out = fresh_dir(out)
    (out / "quarantine.ndjson").touch()
    (out / "duplicates.ndjson").touch()
    report = {entity: ingest_entity(source, entity, out, scope, part_rows) for entity in SCHEMAS}
    totals = Counter()
    for entity_counts in report.values():
        totals.update({k: v for k, v in entity_counts.items() if isinstance(v, int)})
    report["total"] = dict(totals)
    if totals["lines_read"] != (totals["kept"] + totals["duplicates"] + totals["quarantined"]
                                + totals.get("out_of_scope", 0)):
        raise RuntimeError(f"ingest lost lines: {dict(totals)}")
    return report
