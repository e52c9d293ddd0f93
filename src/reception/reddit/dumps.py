"""Per-subreddit Reddit dump files (the Pushshift / Arctic Shift layout) as a source of raw records.

A dump folder holds `<Subreddit>_submissions.zst` and `<Subreddit>_comments.zst`: NDJSON, one post or
comment a line, compressed with zstd. Real dumps run to tens of GB, so a file is streamed: it is
decompressed chunk by chunk and handed on one line at a time, never whole (memory stays at a chunk and a
line, whatever the file's size).

Dumps name their fields as Reddit's API does; the raw schema of this project (what `reception extract`
writes and `ingest` validates) names a few of them differently. `to_raw` maps one onto the other, here
and nowhere else:

  comments  id -> comment_id; link_id "t3_<post>" -> post_id "<post>"; retrieved_on -> observed_utc
  posts     retrieved_on -> observed_utc

`retrieved_on` is when the dump read the score, which is what `observed_utc` means here: the label's
maturity rule (`label.min_age_hours`) applies to dumps unchanged. Older dumps write `created_utc` (and
`retrieved_on`) as a numeric string: both are accepted as int, float or numeric string and become numbers.
Anything else is left to `ingest`'s validation, which quarantines it with its reason.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import zstandard

if TYPE_CHECKING:
    from reception.progress import Progress

# entity (as `ingest` names it) -> the dump file's suffix
DUMP_SUFFIXES = {"posts": "_submissions.zst", "comments": "_comments.zst"}
# Pushshift and Arctic Shift compress with a long window (zstd --long=31); the library's default limit
# (128 MiB) refuses such frames, so the reader allows the format's largest.
MAX_WINDOW = 2**31
CHUNK = 1 << 20  # bytes read from disk at a time
TIME_FIELDS = ("created_utc", "retrieved_on")
_NUMERIC = re.compile(r"\s*-?\d+(\.\d+)?\s*")


class TruncatedDump(Exception):
    """The compressed stream ends inside a frame: the file was cut (an interrupted download or copy)."""


def dump_files(folder: Path, entity: str) -> list[Path]:
    """The dump files of one entity in `folder`, by name; none for an entity dumps do not hold."""
    suffix = DUMP_SUFFIXES.get(entity)
    return sorted(folder.glob(f"*{suffix}")) if suffix else []


def subreddit_of(path: Path) -> str:
    """`AskAcademia` for `AskAcademia_comments.zst`."""
    return next(path.name.removesuffix(s) for s in DUMP_SUFFIXES.values() if path.name.endswith(s))


def _decompressed(path: Path, progress: Progress | None = None) -> Iterator[bytes]:
    """The file's decompressed bytes, chunk by chunk, across concatenated frames; TruncatedDump at the end
    if the last frame is incomplete (zstd's stream readers stop silently there, which would lose lines
    without a word). `progress` advances by the compressed bytes read."""
    decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    frame, fed = decompressor.decompressobj(), False
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            if progress is not None:
                progress.advance(len(chunk))
            while chunk:
                fed = True
                if out := frame.decompress(chunk):
                    yield out
                if not frame.eof:
                    break
                chunk, frame, fed = frame.unused_data, decompressor.decompressobj(), False
    if fed and not frame.eof:
        raise TruncatedDump(f"{path.name}: the compressed stream ends inside a frame")


def read_lines(path: Path, progress: Progress | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its newline) of a dump file, streamed. A last line without a
    newline is yielded too: if the file was cut, it is the broken line, and validation quarantines it.
    `progress` (reception.progress) advances by the compressed bytes read: the file's size is its total."""
    line_no, pending = 0, b""
    for chunk in _decompressed(path, progress):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            line_no += 1
            yield line_no, line
    if pending:
        yield line_no + 1, pending


def _number(value):
    """int, float, or a numeric string as a number; anything else unchanged (validation judges it)."""
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    return value


def to_raw(entity: str, record: dict) -> dict:
    """A dump record in the raw schema `ingest` validates (see the module's docstring)."""
    record = {**record, **{f: _number(record[f]) for f in TIME_FIELDS if f in record}}
    if "retrieved_on" in record:
        record["observed_utc"] = record.pop("retrieved_on")
    if entity == "comments":
        link_id = record.get("link_id")
        record = {"comment_id": record.pop("id", None),
                  "post_id": link_id.removeprefix("t3_") if isinstance(link_id, str) else None, **record}
    return record


def in_scope(record: dict, subreddits: frozenset[str] | None, since: float | None, until: float | None) -> bool:
    """Whether a mapped record is inside the params' filters: subreddit (case-insensitive) and the
    [since, until) window of created_utc. A record whose fields are unreadable is in scope: validation,
    not the filter, decides about it, so that it is quarantined with its reason."""
    subreddit = record.get("subreddit")
    if subreddits is not None and isinstance(subreddit, str) and subreddit.lower() not in subreddits:
        return False
    created = record.get("created_utc")
    if isinstance(created, (int, float)) and not isinstance(created, bool):
        if (since is not None and created < since) or (until is not None and created >= until):
            return False
    return True

