"""The append-only source folder that `reception extract` writes and `reception prune` trims.

Layout (the sample's in data/sample/reddit, which `ingest.source` reads): one sub-folder per entity, one NDJSON file
per batch in each, named by the batch's UTC start time; beside them `manifests/<batch>.json` says what
the batch asked for, what came back and what was skipped. A batch's files are written under
`.incomplete/` (in the same layout) and linked into place only when the whole batch is done: `os.link`
refuses to replace an existing file, so no run can rewrite an earlier batch, and a run killed half-way
leaves nothing that `ingest` reads (its leftovers are removed by the next run). A batch is published
when its manifest is in place, linked last: publishing that fails before then unlinks what it linked.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

ENTITIES = ("comments", "posts", "subreddits", "hot_sublists")
MANIFEST_DIR = "manifests"
PARTIAL_DIR = ".incomplete"
BATCH_FORMAT = "%Y%m%d_%H%M%S"


def batch_name(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(BATCH_FORMAT)


def batch_time(name: str) -> datetime:
    return datetime.strptime(name, BATCH_FORMAT).replace(tzinfo=UTC)


def entity_file(source: Path, entity: str, batch: str) -> Path:
    return source / entity / f"part-{batch}.ndjson"


def manifest_file(source: Path, batch: str) -> Path:
    return source / MANIFEST_DIR / f"{batch}.json"


def posts_read_since(source: Path, since: datetime) -> list[str]:
    """Ids of the posts that the batches started since then read, first read first."""
    ids = {}
    for path in sorted((source / "posts").glob("part-*.ndjson")):
        try:
            started = batch_time(path.stem.removeprefix("part-"))
        except ValueError:
            continue  # not a batch of `reception extract` (an export copied in by hand)
        if started >= since:
            ids.update(dict.fromkeys(json.loads(line)["id"] for line in path.read_text().splitlines()))
    return list(ids)


def manifests(source: Path) -> list[Path]:
    """The manifests of every finished batch, oldest first."""
    return sorted((source / MANIFEST_DIR).glob("*.json"))


class BatchWriter:
    """Rows of one batch, streamed to hidden files and published together by `publish()`.

    Holds an exclusive lock on the source folder for its lifetime: two extracts into one folder
    at once (a slow cron run and the next one) would otherwise race on the batch name.
    """

    def __init__(self, source: Path):
        self.source = source
        self.partial = source / PARTIAL_DIR
        self.partial.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.partial / ".lock", "w")  # noqa: SIM115 (held until publish/discard)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SystemExit(f"reception extract: another extract is writing to '{source}'") from None
        self.stale_removed = self._remove_leftovers()
        # Batches are named to the second: a run started within the second of the previous one waits.
        self.started = datetime.now(UTC)
        while self._taken(batch_name(self.started)):
            time.sleep(1 - self.started.microsecond / 1e6)
            self.started = datetime.now(UTC)
        self.batch = batch_name(self.started)
        self.counts = dict.fromkeys(ENTITIES, 0)
        self._files = {}
        for entity in ENTITIES:
            staged = self._staged(entity_file(source, entity, self.batch))
            staged.parent.mkdir(exist_ok=True)
            self._files[entity] = open(staged, "w", encoding="utf-8")  # noqa: SIM115 (closed by publish/discard)

    def _taken(self, batch: str) -> bool:
        return any(p.exists() for p in [*(entity_file(self.source, e, batch) for e in ENTITIES),
                                         manifest_file(self.source, batch)])

    def _staged(self, final: Path) -> Path:
        """Where a file of the batch is written before it is published: `final`'s place under `.incomplete/`."""
        return self.partial / final.relative_to(self.source)

    def _staged_files(self) -> list[Path]:
        return [p for p in self.partial.rglob("*") if p.is_file() and p != self.partial / ".lock"]

    def _remove_leftovers(self) -> int:
        """Files of a run that was killed before its batch was published: never part of any batch.

        A run killed while publishing (between two links) has also linked some of them into place; those
        are still the staged files themselves (hard links), found by `samefile`, and are unlinked too,
        unless the batch's manifest made it in, which means the batch was published whole.
        """
        leftovers = self._staged_files()
        for staged in leftovers:
            batch = staged.stem.removeprefix("part-")
            if staged.parent.name in ENTITIES and not manifest_file(self.source, batch).exists():
                self._unlink_if_linked(staged)
        self._clear_staging()
        return len(leftovers)

    def _unlink_if_linked(self, staged: Path) -> None:
        """Unlink `staged`'s place in the source folder if it holds this very file (never another batch's)."""
        final = self.source / staged.relative_to(self.partial)
        if final.exists() and final.samefile(staged):
            final.unlink()

    def _clear_staging(self) -> None:
        for path in self.partial.iterdir():
            if path.name != ".lock":
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def write(self, entity: str, row: dict) -> None:
        self._files[entity].write(json.dumps(row, ensure_ascii=False) + "\n")
        self.counts[entity] += 1

    def publish(self, manifest: dict) -> dict[str, Path]:
        """Link every entity file, then the manifest, into place; returns the entity files.

        All or nothing: on any failure before the manifest is in place (a full disk, a file of that name
        appeared, Ctrl-C) every file linked so far is unlinked again and the batch is discarded, then the
        error goes on. Otherwise the linked part files would stay without a manifest: `ingest` would read
        a batch that no manifest explains and `prune` would not see as a batch.
        """
        finals = {entity: entity_file(self.source, entity, self.batch) for entity in ENTITIES}
        try:
            for handle in self._files.values():
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
            for final in finals.values():
                self._place(self._staged(final), final)
            self._place_manifest(manifest)
        except BaseException:
            for staged in self._staged_files():
                self._unlink_if_linked(staged)
            self.discard()
            raise
        self._clear_staging()
        self._release()
        return finals

    def discard(self, manifest: dict | None = None) -> None:
        """Drop the batch's rows; keep only its manifest (if given), so a failed run is still explained."""
        for handle in self._files.values():
            with contextlib.suppress(OSError):  # its rows are dropped: a flush that fails (full disk) is moot
                handle.close()
        self._clear_staging()
        if manifest is not None:
            self._place_manifest(manifest)
            self._clear_staging()
        self._release()

    def _place_manifest(self, manifest: dict) -> None:
        final = manifest_file(self.source, self.batch)
        staged = self._staged(final)
        staged.parent.mkdir(exist_ok=True)
        staged.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        self._place(staged, final)

    @staticmethod
    def _place(staged: Path, final: Path) -> None:
        """Link the staged file into place; it stays staged until the batch is published, for a rollback."""
        final.parent.mkdir(parents=True, exist_ok=True)
        os.link(staged, final)  # fails if `final` exists: an earlier batch is never replaced

    def _release(self) -> None:
        (self.partial / ".lock").unlink(missing_ok=True)
        self._lock.close()
        self.partial.rmdir()  # the source folder that `dvc add` sees holds finished batches only
