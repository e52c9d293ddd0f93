"""`reception prune`: delete the raw batches older than `extract.retention_days` (params.yaml).

Reddit's terms and its users' privacy both argue against keeping what was read forever. Only batches
that `reception extract` wrote (those with a manifest) are candidates, so pointing the command at an
export it did not write (the read-only shared sample) deletes nothing. A batch's files go first and its
manifest last, so an interrupted prune is finished by the next one. After a prune, `dvc add` the source
folder again and `dvc repro`: the comments of the deleted batches leave every derived layer.
"""
from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reception.params import load_params
from reception.paths import PARAMS_FILE, SOURCE_DIR
from reception.reddit.batches import ENTITIES, batch_time, entity_file, manifests


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=SOURCE_DIR,
                        help=f"source folder written by `reception extract` (default: {SOURCE_DIR})")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")


def run(args: argparse.Namespace) -> int:
    days = load_params("extract").get("retention_days")
    if days is None:
        print(f"reception prune: {PARAMS_FILE}: extract.retention_days is null, every batch is kept")
        return 0
    expired = expired_batches(args.source, datetime.now(UTC) - timedelta(days=days))
    for manifest in expired:
        files = [entity_file(args.source, entity, manifest.stem) for entity in ENTITIES]
        print(f"reception prune: {'would delete' if args.dry_run else 'deleting'} batch {manifest.stem} "
              f"({sum(f.exists() for f in files)} files)")
        if not args.dry_run:
            for path in files:
                path.unlink(missing_ok=True)
            manifest.unlink()
    kept = len(manifests(args.source)) - (len(expired) if args.dry_run else 0)
    print(f"reception prune: {len(expired)} batches older than {days} days "
          f"{'to delete' if args.dry_run else 'deleted'}, {kept} kept in {args.source}")
    return 0


def expired_batches(source: Path, cutoff: datetime) -> list[Path]:
    """Manifests (named by their batch) of the batches that started before the cutoff."""
    return [manifest for manifest in manifests(source) if batch_time(manifest.stem) < cutoff]
