"""`reception prune`: delete the raw batches older than `extract.retention_days` (params.yaml).

Reddit's terms and its users' privacy both argue against keeping what was read forever. Candidates are
the batches that `reception extract` wrote (those with a manifest) and, in a folder it writes (one with
`manifests/`), the orphaned part files that no manifest names; so pointing the command at an export it
did not write (such as the sample in data/sample/reddit) deletes nothing. A batch's files go first and its manifest
last, so an interrupted prune is finished by the next one. After a prune, `dvc add` the source folder
again and `dvc repro`: the comments of the deleted batches leave every derived layer.

The embedding cache (data/embedding_cache, reception.models.embedding_cache) is pruned next: it keeps
the vectors of texts that no derived layer holds any more, so prune removes every vector whose text is
in none of the current processed splits (data/processed/{train,val,test}.parquet, their clean_text: the
texts embed encodes), unless another comment still there has the same text. The splits only lose the
deleted batches' comments at the next `dvc repro`, so their vectors go at the prune after it:
prune, `dvc add`, `dvc repro`, prune again (which finds no batch left to delete), `dvc repro` (embed
re-runs, encodes nothing and records the pruned cache in dvc.lock).
Without all three splits there is no live set and the cache is left as it is.
"""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reception.params import load_params
from reception.paths import EMBEDDING_CACHE_DIR, PARAMS_FILE, SOURCE_DIR, split_file
from reception.reddit.batches import ENTITIES, MANIFEST_DIR, batch_time, entity_file, manifests


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=SOURCE_DIR,
                        help=f"source folder written by `reception extract` (default: {SOURCE_DIR})")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")


def run(args: argparse.Namespace) -> int:
    status = prune_batches(args)
    if status == 0:
        prune_embedding_cache(args.dry_run)
    return status


def prune_batches(args: argparse.Namespace) -> int:
    try:
        days = retention_days(load_params("extract").get("retention_days"))
    except ValueError as error:
        print(f"reception prune: {PARAMS_FILE}: {error}; nothing deleted", file=sys.stderr)
        return 2
    if days is None:
        print(f"reception prune: {PARAMS_FILE}: extract.retention_days is null, every batch is kept")
        return 0
    cutoff = retention_cutoff(days)
    orphans = expired_orphans(args.source, cutoff)
    expired = expired_batches(args.source, cutoff)
    verb = "would delete" if args.dry_run else "deleting"
    for manifest in expired:
        files = [entity_file(args.source, entity, manifest.stem) for entity in ENTITIES]
        print(f"reception prune: {verb} batch {manifest.stem} ({sum(f.exists() for f in files)} files)")
        if not args.dry_run:
            for path in files:
                path.unlink(missing_ok=True)
            manifest.unlink()
    for path in orphans:
        print(f"reception prune: {verb} orphaned part file {path} (no manifest names it)")
        if not args.dry_run:
            path.unlink()
    kept = len(manifests(args.source)) - (len(expired) if args.dry_run else 0)
    print(f"reception prune: {len(expired)} batches and {len(orphans)} orphaned part files older than {days} days "
          f"{'to delete' if args.dry_run else 'deleted'}, {kept} batches kept in {args.source}")
    if (expired or orphans) and not args.dry_run:
        print("reception prune: the processed splits hold the deleted comments until `dvc repro`: run "
              "`reception prune` again after it to remove their vectors from the embedding cache")
    return 0


def prune_embedding_cache(dry_run: bool) -> None:
    """Remove from EMBEDDING_CACHE_DIR the vectors of texts in none of the processed splits (see above)."""
    # Imported here: the cache's code and the split tables are needed only when there is a cache to prune.
    from reception.data.splits import SPLITS, read_split
    from reception.models.embedding_cache import live_keys, prune_cache, shard_paths

    if not shard_paths(EMBEDDING_CACHE_DIR):
        return
    absent = [str(split_file(split)) for split in SPLITS if not split_file(split).is_file()]
    if absent:
        print(f"reception prune: embedding cache {EMBEDDING_CACHE_DIR} left as it is: no live set without "
              f"{', '.join(absent)}")
        return
    texts = {text for split in SPLITS for text in read_split(split, ["clean_text"])["clean_text"]}
    pruned = prune_cache(EMBEDDING_CACHE_DIR, live_keys(EMBEDDING_CACHE_DIR, texts), dry_run)
    print(f"reception prune: {pruned.removed} vectors of texts in no processed split "
          f"{'to remove' if dry_run else 'removed'} from {EMBEDDING_CACHE_DIR} ({len(pruned.rewritten)} shards "
          f"{'to rewrite' if dry_run else 'rewritten'}), {pruned.kept} kept")
    if pruned.removed and not dry_run:
        print("reception prune: `dvc repro` records the pruned cache in dvc.lock (embed re-runs and encodes nothing)")


def retention_days(value: object) -> int | None:
    """The retention in days, None to keep every batch; anything but a whole number >= 1 is refused.

    `0` used to make every batch expired at once, a negative number puts the cutoff in the future, and
    `7.5`, `"30"` or `true` are typos whose meaning is a guess (YAML's `true` is Python's 1): prune
    stops before deleting anything rather than read any of them as a retention.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"extract.retention_days must be a whole number of days >= 1, or null to keep "
                         f"every batch; got {value!r}")
    return value


def retention_cutoff(days: int) -> datetime:
    """The start of the retention window: what is older goes."""
    try:
        return datetime.now(UTC) - timedelta(days=days)
    except OverflowError:  # a retention longer than the calendar reaches back: nothing is that old
        return datetime.min.replace(tzinfo=UTC)


def expired_batches(source: Path, cutoff: datetime) -> list[Path]:
    """Manifests (named by their batch) of the batches that started before the cutoff."""
    return [manifest for manifest in manifests(source) if batch_time(manifest.stem) < cutoff]


def expired_orphans(source: Path, cutoff: datetime) -> list[Path]:
    """The part files that no manifest names and that were written before the cutoff.

    Such a file is what an older extract left when it failed between publishing its part files and its
    manifest (publishing now rolls back), or an export copied in by hand; `ingest` reads it all the same,
    so the retention holds for it too. Its age is taken from the batch time in its name, when it has one:
    that is when `reception extract` read its rows, which is what the retention counts from, and unlike
    the modification time it survives a copy or a `dvc checkout`. A name without one was not given by
    extract; its modification time stands in: when the file was last written here (copied, checked out),
    which is never before its rows were read, so the file is kept longer rather than deleted early.
    Only a folder that `reception extract` writes (one with `manifests/`) is searched: in any other,
    such as the sample in data/sample/reddit, no file can be told apart from an orphan and every file is kept.
    """
    if not (source / MANIFEST_DIR).is_dir():
        return []
    named = {entity_file(source, entity, manifest.stem) for manifest in manifests(source) for entity in ENTITIES}
    return [path for entity in ENTITIES for path in sorted((source / entity).glob("*.ndjson"))
            if path not in named and written(path) < cutoff]


def written(path: Path) -> datetime:
    """When a part file's rows were read: the batch time in its name, else its modification time."""
    try:
        return batch_time(path.stem.removeprefix("part-"))
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
