"""Retention that holds: a batch is published whole or not at all, `reception prune` expires orphaned part
files and refuses a retention that is not a whole number of days, and the credentials stay out of git."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_extract import write_batch

from conftest import REPO, SAMPLE_RAW
from reception import cli
from reception.reddit import batches, prune
from reception.reddit.batches import ENTITIES, MANIFEST_DIR, PARTIAL_DIR, BatchWriter, batch_name
from reddit_standin import RUN_EXTRACT, RedditStandIn, extract_command

OLD_BATCH = "20200101_000000"  # years older than any retention


def publish_batch(source: Path, comment_ids: list[str]) -> str:
    """A batch written and published by the real writer: one row per entity, the comments as given."""
    writer = BatchWriter(source)
    for comment_id in comment_ids:
        writer.write("comments", {"comment_id": comment_id, "observed_utc": 1.7e9})
    for entity in ("posts", "subreddits", "hot_sublists"):
        writer.write(entity, {"id": f"{entity}-1", "observed_utc": 1.7e9})
    writer.publish({"batch": writer.batch, "status": "complete"})
    return writer.batch


def snapshot(source: Path) -> dict[str, bytes]:
    """Every file under the source folder, by relative path, with its bytes."""
    return {str(p.relative_to(source)): p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file()}


def files_of(source: Path, batch: str) -> list[Path]:
    """Whatever of the batch is visible where `ingest` and `prune` look: its part files and its manifest."""
    return [p for p in [*(source / e / f"part-{batch}.ndjson" for e in ENTITIES),
                        source / MANIFEST_DIR / f"{batch}.json"] if p.exists()]


# 1. Publishing is all or nothing.

@pytest.mark.parametrize(("failing_link", "error"), [
    (2, OSError(errno.ENOSPC, "No space left on device")),  # after the first part file
    (4, OSError(errno.EEXIST, "File exists")),  # after three of the four
    (5, OSError(errno.EIO, "Input/output error")),  # every part file linked, the manifest fails
    (3, KeyboardInterrupt()),  # Ctrl-C half-way
], ids=["second-file", "fourth-file", "manifest", "ctrl-c"])
def test_a_publish_that_fails_midway_leaves_nothing_of_its_batch(tmp_path, monkeypatch, failing_link, error):
    source = tmp_path / "source"
    first = publish_batch(source, ["c1", "c2"])
    before = snapshot(source)
    writer = BatchWriter(source)
    writer.write("comments", {"comment_id": "c3", "observed_utc": 1.7e9})
    links, real_link = [], os.link

    def link(src, dst):
        links.append(dst)
        if len(links) == failing_link:
            raise error
        real_link(src, dst)

    monkeypatch.setattr(batches.os, "link", link)
    with pytest.raises(type(error)):
        writer.publish({"batch": writer.batch, "status": "complete"})
    assert len(links) == failing_link  # the failure did come mid-publish, after some files were linked
    assert files_of(source, writer.batch) == []
    assert snapshot(source) == before  # the earlier batch intact, nothing else left behind
    assert not (source / PARTIAL_DIR).exists()  # the lock released with the staged rows
    assert prune.expired_orphans(source, datetime.max.replace(tzinfo=UTC)) == []
    monkeypatch.setattr(batches.os, "link", real_link)
    later = publish_batch(source, ["c4"])  # the next run is not held up by the failed one
    assert later > first and len(files_of(source, later)) == len(ENTITIES) + 1


# The disk fills up at the second link of a real extract's publish (PRAW against the local stand-in).
FULL_DISK_AT_SECOND_LINK = """
import errno, os
real_link, links = os.link, []
def link(src, dst):
    links.append(dst)
    if len(links) == 2:
        raise OSError(errno.ENOSPC, "No space left on device")
    real_link(src, dst)
os.link = link
"""


def test_an_extract_whose_publish_fails_exits_1_and_keeps_nothing_of_its_batch(tmp_path):
    source = tmp_path / "source"
    first = publish_batch(source, ["c1"])
    before = snapshot(source)
    with RedditStandIn(SAMPLE_RAW) as standin:
        command, env = extract_command(standin, tmp_path, "--subreddit", "books", "--comments")
        command[2] = FULL_DISK_AT_SECOND_LINK + RUN_EXTRACT
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    [message] = [line for line in result.stderr.splitlines() if "not published" in line]
    assert message.endswith("not published ([Errno 28] No space left on device); nothing of it was kept")
    assert "Traceback" not in result.stderr
    assert snapshot(source) == before and len(files_of(source, first)) == len(ENTITIES) + 1


# A run that dies between two links (the power goes) cannot roll back itself: the next run does.
KILLED_MIDWAY = """
import os, signal, sys
from pathlib import Path
from reception.reddit import batches
writer = batches.BatchWriter(Path(sys.argv[1]))
writer.write("comments", {"comment_id": "killed", "observed_utc": 1.7e9})
print(writer.batch, flush=True)
real_link, links = os.link, []
def link(src, dst):
    real_link(src, dst)
    links.append(dst)
    if len(links) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
batches.os.link = link
writer.publish({"batch": writer.batch})
"""


def test_a_run_killed_while_publishing_is_rolled_back_by_the_next_run(tmp_path):
    source = tmp_path / "source"
    first = publish_batch(source, ["c1"])
    before = snapshot(source)
    killed = subprocess.run([sys.executable, "-c", KILLED_MIDWAY, str(source)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    batch = killed.stdout.strip()
    assert len(files_of(source, batch)) == 2  # two part files were in place, no manifest
    writer = BatchWriter(source)  # the next run
    assert writer.stale_removed > 0 and files_of(source, batch) == []
    writer.discard()
    assert snapshot(source) == before and files_of(source, first)


# 2. Prune expires orphaned part files.

def write_file(path: Path, modified: datetime | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    if modified is not None:
        os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def prune_with(tmp_path: Path, monkeypatch, retention: str, source: Path, *options: str) -> int:
    """`reception prune` as its console script runs it, with this params.yaml: returns the exit status."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"extract:\n  retention_days: {retention}\n")
    return cli.main(["prune", "--source", str(source), *options])


def test_prune_expires_orphaned_part_files_by_the_time_in_their_name_else_their_mtime(tmp_path, monkeypatch,
                                                                                      capsys):
    source = tmp_path / "source"
    now, long_ago = datetime.now(UTC), datetime(2020, 1, 1, tzinfo=UTC)
    recent = batch_name(now - timedelta(days=1))
    write_batch(source, OLD_BATCH)
    write_batch(source, recent)
    expired = [
        write_file(source / "comments" / "part-20200102_000000.ndjson"),  # old by its name, written just now
        write_file(source / "posts" / "export-by-hand.ndjson", modified=long_ago),  # no time in its name: mtime
    ]
    kept = [
        write_file(source / "comments" / f"part-{batch_name(now - timedelta(hours=1))}.ndjson",
                   modified=long_ago),  # recent by its name: the name wins over an old mtime
        write_file(source / "posts" / "copied-today.ndjson"),  # no time in its name, written just now
        write_file(source / PARTIAL_DIR / "comments" / "part-20200103_000000.ndjson"),  # extract's, not prune's
    ]
    old_batch = files_of(source, OLD_BATCH)

    assert prune_with(tmp_path, monkeypatch, "30", source, "--dry-run") == 0
    out = capsys.readouterr().out
    assert all(p.exists() for p in [*expired, *kept, *old_batch])
    listed = [line for line in out.splitlines() if line.startswith("reception prune: would delete orphaned")]
    assert sorted(listed) == sorted(f"reception prune: would delete orphaned part file {p} (no manifest names it)"
                                    for p in expired)
    assert f"would delete batch {OLD_BATCH} (4 files)" in out
    assert "1 batches and 2 orphaned part files older than 30 days to delete, 1 batches kept" in out

    assert prune_with(tmp_path, monkeypatch, "30", source) == 0
    out = capsys.readouterr().out
    assert not any(p.exists() for p in [*expired, *old_batch])
    assert all(p.exists() for p in kept) and len(files_of(source, recent)) == len(ENTITIES) + 1
    assert "1 batches and 2 orphaned part files older than 30 days deleted, 1 batches kept" in out


def test_prune_leaves_a_folder_that_extract_did_not_write_untouched(tmp_path, monkeypatch, capsys):
    """The sample has no manifests: none of its files is an orphan, however old."""
    source = shutil.copytree(SAMPLE_RAW, tmp_path / "sample")
    long_ago = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
    for path in source.rglob("*"):
        os.utime(path, (long_ago, long_ago))
    before = snapshot(source)
    assert prune_with(tmp_path, monkeypatch, "1", source) == 0
    assert snapshot(source) == before
    assert "0 batches and 0 orphaned part files older than 1 days deleted" in capsys.readouterr().out


# 3. The retention is a whole number of days >= 1, or null.

@pytest.mark.parametrize("retention", ["0", "-3", "7.5", "'30'", "thirty", "true", "false", "[30]"])
def test_a_retention_that_is_not_a_whole_number_of_days_is_refused_and_nothing_deleted(tmp_path, monkeypatch,
                                                                                        capsys, retention):
    source = tmp_path / "source"
    write_batch(source, OLD_BATCH)
    write_batch(source, batch_name(datetime.now(UTC)))
    write_file(source / "comments" / "part-20200102_000000.ndjson")  # an orphan, old enough for any retention
    before = snapshot(source)
    assert prune_with(tmp_path, monkeypatch, retention, source) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [message] = captured.err.splitlines()
    assert message.startswith("reception prune: params.yaml: extract.retention_days must be a whole number of days "
                              ">= 1, or null to keep every batch; got ")
    assert message.endswith("; nothing deleted")
    assert snapshot(source) == before


def test_the_refusal_is_the_console_scripts_exit_status(tmp_path):
    source = tmp_path / "source"
    write_batch(source, OLD_BATCH)
    (tmp_path / "params.yaml").write_text("extract:\n  retention_days: 0\n")
    result = subprocess.run([sys.executable, "-m", "reception.cli", "prune", "--source", str(source)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "got 0; nothing deleted" in result.stderr
    assert len(files_of(source, OLD_BATCH)) == len(ENTITIES) + 1


@pytest.mark.parametrize(("retention", "deleted"), [("null", False), ("1", True), ("1000000000", False)],
                         ids=["null-keeps-all", "one-day", "beyond-the-calendar"])
def test_a_valid_retention_is_applied(tmp_path, monkeypatch, capsys, retention, deleted):
    source = tmp_path / "source"
    write_batch(source, OLD_BATCH)
    today = batch_name(datetime.now(UTC))
    write_batch(source, today)
    assert prune_with(tmp_path, monkeypatch, retention, source) == 0
    assert (files_of(source, OLD_BATCH) == []) == deleted
    assert len(files_of(source, today)) == len(ENTITIES) + 1
    out = capsys.readouterr().out
    assert ("every batch is kept" in out) == (retention == "null")


# 4. Credentials stay out of git.

@pytest.mark.parametrize("path", ["praw.ini", ".env", "stages/praw.ini", "service/.env"])
def test_credential_files_are_ignored_by_git(path):
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
    assert ignored.returncode == 0, f"{path} is not git-ignored"
    tracked = subprocess.run(["git", "ls-files", "--", path], cwd=REPO, capture_output=True, text=True, check=True)
    assert tracked.stdout == "", f"{path} is tracked"
