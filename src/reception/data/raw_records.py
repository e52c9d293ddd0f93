"""Raw Reddit records: each line validated against its entity's schema, copies of one id resolved.

A source folder holds NDJSON exports (`<entity>/*.ndjson`, what `reception extract` writes), per-subreddit
dump files (`<Subreddit>_comments.zst`, `<Subreddit>_submissions.zst`: reception.reddit.dumps, which maps
their fields to the raw schema), or both. Every line read ends in exactly one place: kept
(<entity>.ndjson, with its source file and line), another copy of a kept id (duplicates.ndjson, the audit
trail), quarantined with its reason (quarantine.ndjson, without its author: `quarantine_entry`), or out
of scope (a dump line outside the `DumpScope` the params ask for): read = kept + duplicates + quarantined +
out_of_scope, which `ingest_source` checks. A dump file whose compressed stream was cut is read up to the
cut, and the cut is quarantined as one entry of its own (what followed it cannot be counted).

A score keeps changing after it is read, and `reception extract` appends a new batch each run: of the
copies of one id, the latest observation (`observed_utc`) is kept; copies without it count as the
oldest, and among equals the first read wins. A comment or post that any copy shows deleted or removed
keeps neither its text nor its author, in the kept record and in the audit trail alike: what its
writer took back leaves every layer built from here on.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

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


def ingest_entity(source: Path, entity: str, out: Path, scope: DumpScope = DumpScope()) -> dict:
    key_fields, fields = SCHEMAS[entity]
    exports, dump_files = entity_files(source, entity, scope)
    all_dumps = [p for e in dumps.DUMP_SUFFIXES for p in dumps.dump_files(source, e)]
    entity_dumps = dumps.dump_files(source, entity)
    if not exports and not all_dumps:
        raise SystemExit(f"ingest: no *.ndjson files in '{source / entity}' and no dump files in '{source}' "
                         "(set params.yaml: ingest.source to your export or dump folder)")
    counts, reasons, copies = Counter(), Counter(), {}
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
                        record = {**record, "_source_file": rel, "_source_line": line_no}
                        copies.setdefault(tuple(record[k] for k in key_fields), []).append(record)
            except dumps.TruncatedDump as cut:
                counts["files_cut"] += 1
                quarantine.write(json.dumps({"entity": entity, "source_file": rel, "line": None,
                                             "reason": f"file cut: {cut}"}) + "\n")
    with open(out / f"{entity}.ndjson", "w") as kept_file, open(out / "duplicates.ndjson", "a") as duplicates:
        for key, records in copies.items():  # in the order each id was first read
            marker = deletion_marker(entity, records)
            kept = latest(records)
            counts["kept"] += 1
            counts["deleted"] += marker is not None
            kept_file.write(json.dumps(redact(entity, kept, marker), ensure_ascii=False) + "\n")
            for record in records:
                if record is kept:
                    continue
                identical = _content(record) == _content(kept)
                counts["duplicates"] += 1
                counts["duplicates_conflicting"] += not identical
                duplicates.write(json.dumps({
                    "entity": entity, "key": list(key), "identical": identical,
                    "first_source_file": records[0]["_source_file"], "first_line": records[0]["_source_line"],
                    "kept_source_file": kept["_source_file"], "kept_line": kept["_source_line"],
                    "record": redact(entity, record, marker)}, ensure_ascii=False) + "\n")
    report = {"files": len(exports) + len(dump_files), "lines_read": counts["lines_read"], "kept": counts["kept"],
              "duplicates": counts["duplicates"], "duplicates_conflicting": counts["duplicates_conflicting"],
              "deleted": counts["deleted"], "quarantined": counts["quarantined"],
              "quarantine_reasons": dict(sorted(reasons.items()))}
    if all_dumps:  # counts only dumps have: an export source's report keeps its shape
        report |= {"out_of_scope": counts["out_of_scope"], "files_cut": counts["files_cut"],
                   "dump_files_skipped": len(entity_dumps) - len(dump_files)}
    return report


def latest(records: list[dict]) -> dict:
    """The latest observation; without `observed_utc` a copy counts as the oldest; ties: the first read."""
    order = {id(r): i for i, r in enumerate(records)}
    return max(records, key=lambda r: (r.get("observed_utc") or -math.inf, -order[id(r)]))


def deletion_marker(entity: str, records: list[dict]) -> str | None:
    """Reddit's "[deleted]"/"[removed]" if any copy shows the record deleted or removed, else None."""
    if entity not in DELETABLE:
        return None
    shown_in = DELETABLE[entity][0]
    return next((r[shown_in].strip() for r in records if is_deleted(r.get(shown_in) or "")), None)


def redact(entity: str, record: dict, marker: str | None) -> dict:
    if marker is None:
        return record
    shown_in, dropped = DELETABLE[entity]
    return {**record, shown_in: marker, **dict.fromkeys(dropped)}


def _content(record: dict) -> dict:
    """What a copy says about its thing: not where or when it was read."""
    return {k: v for k, v in record.items() if not k.startswith("_source") and k != "observed_utc"}


def ingest_source(source: Path, out: Path, scope: DumpScope = DumpScope()) -> dict:
    """Validate every entity's files under `source` into `out` (emptied first); the counts per entity and
    their total."""
    if not source.is_dir():
        raise SystemExit(f"ingest: source folder '{source}' does not exist "
                         "(set params.yaml: ingest.source to your Reddit export folder)")
    out = fresh_dir(out)
    (out / "quarantine.ndjson").touch()
    (out / "duplicates.ndjson").touch()
    report = {entity: ingest_entity(source, entity, out, scope) for entity in SCHEMAS}
    totals = Counter()
    for entity_counts in report.values():
        totals.update({k: v for k, v in entity_counts.items() if isinstance(v, int)})
    report["total"] = dict(totals)
    if totals["lines_read"] != (totals["kept"] + totals["duplicates"] + totals["quarantined"]
                                + totals.get("out_of_scope", 0)):
        raise RuntimeError(f"ingest lost lines: {dict(totals)}")
    return report
