"""`reception extract` and `reception prune`, offline: PRAW's real HTTP path against a local stand-in."""
from __future__ import annotations

import argparse
import hashlib
import json
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import SAMPLE_RAW
from reception.data.raw_records import ingest_entity
from reception.reddit import prune
from reception.reddit.batches import ENTITIES, MANIFEST_DIR, PARTIAL_DIR
from reddit_standin import CLIENT_ID, CLIENT_SECRET, NSFW_SUBREDDIT, USER_AGENT, RedditStandIn, extract, extract_command

ASKREDDIT_THREAD, BOOKS_THREAD = "1pbtvof", "1otr99z"  # 500 and 29 comments in the sample


@pytest.fixture
def standin():
    with RedditStandIn(SAMPLE_RAW) as server:
        yield server


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batches(source: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((source / MANIFEST_DIR).glob("*.json"))]


def batch_files(source: Path, batch: str) -> dict[str, Path]:
    return {entity: source / entity / f"part-{batch}.ndjson" for entity in ENTITIES}


def sample_fields(entity: str) -> set[str]:
    return set(json.loads((next((SAMPLE_RAW / entity).glob("*.ndjson"))).read_text().splitlines()[0]))


def test_a_run_writes_the_samples_layout_with_observed_utc(standin, tmp_path):
    result = extract(standin, tmp_path, "--subreddit", "AskReddit", "books", "--posts-per-subreddit", "5",
                     "--comments")
    assert result.returncode == 0, result.stderr
    source = tmp_path / "source"
    [manifest] = batches(source)
    assert manifest["status"] == "complete" and manifest["skipped"] == []
    files = batch_files(source, manifest["batch"])
    assert all(path.is_file() for path in files.values())
    assert not (source / PARTIAL_DIR).exists()
    comments = rows(files["comments"])
    assert {c["post_id"] for c in comments} == {ASKREDDIT_THREAD, BOOKS_THREAD}
    assert len(comments) == 500 + 29 == manifest["rows"]["comments"]  # the hidden ones came by morechildren
    assert ("POST", "/api/morechildren") in standin.requests
    for entity, path in files.items():
        for row in rows(path):
            assert set(row) == sample_fields(entity) | {"observed_utc"}, entity
            assert row["observed_utc"] > 1.7e9
    assert {r["subreddit"] for r in rows(files["hot_sublists"])} == {"AskReddit", "books"}
    for entity in ENTITIES:  # ingest takes every line as it is
        out = tmp_path / "ingested"
        out.mkdir(exist_ok=True)
        counts = ingest_entity(source, entity, out)
        assert counts["quarantined"] == 0 and counts["kept"] == counts["lines_read"], entity
    written = [p.read_text() for p in source.rglob("*") if p.is_file()] + [result.stdout, result.stderr]
    for secret in (CLIENT_ID, CLIENT_SECRET, USER_AGENT):
        assert not any(secret in text for text in written), "a credential was written"


def test_a_missing_credential_is_named_in_one_line(standin, tmp_path):
    result = extract(standin, tmp_path, "--subreddit", "books", env={"REDDIT_CLIENT_SECRET": ""})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "REDDIT_CLIENT_SECRET" in result.stderr
    assert not (tmp_path / "source").exists() and standin.requests == []


def test_credentials_from_a_praw_ini_site(standin, tmp_path):
    command, env = extract_command(standin, tmp_path, "--subreddit", "books", "--site", "reception")
    with open(tmp_path / "praw.ini", "a") as ini:
        ini.write(f"[reception]\nclient_id={CLIENT_ID}\nclient_secret={CLIENT_SECRET}\nuser_agent={USER_AGENT}\n")
    env = {k: v for k, v in env.items() if not k.startswith("REDDIT_")}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert CLIENT_SECRET not in (tmp_path / "source" / MANIFEST_DIR).joinpath(
        f"{batches(tmp_path / 'source')[0]['batch']}.json").read_text()


def test_refused_credentials_stop_the_run(standin, tmp_path):
    result = extract(standin, tmp_path, "--subreddit", "books", env={"REDDIT_CLIENT_SECRET": "wrong"})
    assert result.returncode == 1
    [manifest] = batches(tmp_path / "source")
    assert "refused the credentials" in manifest["status"]
    assert "wrong" not in json.dumps(manifest)
    assert not any((tmp_path / "source" / entity).exists() for entity in ENTITIES)


def test_429_waits_for_retry_after(standin, tmp_path):
    standin.fault("/r/books/top", 429, retry_after="1")
    result = extract(standin, tmp_path, "--subreddit", "books", "--posts-per-subreddit", "5")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(tmp_path / "source")
    assert manifest["faults"] == {"429": 1} and manifest["rows"]["posts"] == 1
    assert [r for r in standin.requests if r[1].startswith("/r/books/top")] == [("GET", "/r/books/top")] * 2


def test_an_exhausted_rate_limit_window_is_waited_out(standin, tmp_path):
    standin.fault("/r/books/about", 200, x_ratelimit_remaining="0", x_ratelimit_used="100", x_ratelimit_reset="2")
    result = extract(standin, tmp_path, "--subreddit", "books")
    assert result.returncode == 0, result.stderr
    about = standin.requests.index(("GET", "/r/books/about"))
    assert standin.request_times[about + 1] - standin.request_times[about] >= 1.9


def test_a_500_is_retried_then_succeeds(standin, tmp_path):
    standin.fault(f"/comments/{BOOKS_THREAD}", 500)
    result = extract(standin, tmp_path, "--subreddit", "books", "--comments")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(tmp_path / "source")
    assert manifest["faults"] == {"500": 1} and manifest["rows"]["comments"] == 29


def test_private_banned_and_missing_subreddits_are_skipped_and_recorded(standin, tmp_path):
    standin.private.add("books")
    standin.banned.add("aww")
    result = extract(standin, tmp_path, "--subreddit", "books", "aww", "no_such_sub", "AskReddit")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(tmp_path / "source")
    assert manifest["skipped"] == [{"subreddit": "books", "reason": "private"},
                                   {"subreddit": "aww", "reason": "banned"},
                                   {"subreddit": "no_such_sub", "reason": "missing"}]
    posts = rows(batch_files(tmp_path / "source", manifest["batch"])["posts"])
    assert [p["id"] for p in posts] == [ASKREDDIT_THREAD]


def test_nothing_fetched_exits_non_zero_and_explains(standin, tmp_path):
    standin.private.add("books")
    result = extract(standin, tmp_path, "--subreddit", "books")
    assert result.returncode == 1
    [manifest] = batches(tmp_path / "source")
    assert manifest["status"] == "nothing fetched" and manifest["skipped"][0]["reason"] == "private"
    assert not any((tmp_path / "source" / entity).exists() for entity in ENTITIES)


@pytest.mark.parametrize("strategy", ["popular", "all_hot", "all_top_day"])
def test_discovery_strategies_leave_nsfw_out(standin, tmp_path, strategy):
    standin.posts[BOOKS_THREAD]["over_18"] = True
    # More than the stand-in has: discovery scans every candidate, the NSFW one included.
    result = extract(standin, tmp_path, "--discover-hot", "50", "--strategy", strategy, "--posts-per-subreddit", "2")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(tmp_path / "source")
    hot = rows(batch_files(tmp_path / "source", manifest["batch"])["hot_sublists"])
    # The 15 threads span 11 subreddits: popular lists them and one NSFW more; r/all loses books.
    assert len(hot) == (11 if strategy == "popular" else 10) and {h["strategy"] for h in hot} == {strategy}
    # popular lists subreddits (one is NSFW); r/all lists posts (the books thread is NSFW here).
    left_out = NSFW_SUBREDDIT if strategy == "popular" else "books"
    assert left_out not in {h["subreddit"] for h in hot}
    assert {"subreddit": left_out, "reason": "nsfw"} in manifest["skipped"]
    posts = rows(batch_files(tmp_path / "source", manifest["batch"])["posts"])
    assert posts and not any(p["over_18"] for p in posts)


def test_replace_more_is_bounded_and_what_is_left_is_counted(standin, tmp_path):
    result = extract(standin, tmp_path, "--subreddit", "AskReddit", "--comments", "--replace-more", "0")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(tmp_path / "source")
    [left] = manifest["skipped"]
    assert left["post_id"] == ASKREDDIT_THREAD and manifest["rows"]["comments"] + left["comments"] == 500
    assert ("POST", "/api/morechildren") not in standin.requests


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_interrupted_run_leaves_no_partial_file_and_a_rerun_completes(standin, tmp_path, stop):
    standin.hang(f"/comments/{BOOKS_THREAD}")
    command, env = extract_command(standin, tmp_path, "--subreddit", "AskReddit", "books", "--comments")
    # Ctrl-C as in a terminal, even where the tests run as a background job, which starts with SIGINT ignored
    # (Python then installs no KeyboardInterrupt handler, and the child would inherit that).
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert standin.hanging.wait(timeout=120), "the run never reached the books thread"
    finally:
        process.send_signal(stop)  # SIGKILL: no clean-up at all, as in a power cut or an OOM kill
        process.communicate(timeout=60)
    assert process.returncode != 0
    source = tmp_path / "source"
    assert not any((source / entity).exists() for entity in ENTITIES) and not (source / MANIFEST_DIR).exists()
    # Ctrl-C cleans up at once; after a kill the rows that were being written wait for the next run.
    assert (source / PARTIAL_DIR).exists() == (stop == signal.SIGKILL)
    standin.hang_path = None
    result = extract(standin, tmp_path, "--subreddit", "AskReddit", "books", "--comments")
    assert result.returncode == 0, result.stderr
    [manifest] = batches(source)
    assert (manifest["stale_partial_files_removed"] > 0) == (stop == signal.SIGKILL)
    assert manifest["rows"]["comments"] == 529
    assert not (source / PARTIAL_DIR).exists()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_day_later_a_new_batch_is_added_and_the_first_is_untouched(standin, tmp_path):
    args = ("--subreddit", "books", "--comments")
    assert extract(standin, tmp_path, *args).returncode == 0
    source = tmp_path / "source"
    [first] = batches(source)
    first_files = batch_files(source, first["batch"])
    first_hashes = {e: sha256(p) for e, p in first_files.items()}
    gone = rows(first_files["comments"])[0]["comment_id"]
    standin.day, standin.deleted = 1, {gone}  # scores moved on, and one comment was deleted since
    result = extract(standin, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    [_, second] = batches(source)
    assert second["batch"] > first["batch"]
    assert {e: sha256(p) for e, p in first_files.items()} == first_hashes
    before = {c["comment_id"]: c for c in rows(first_files["comments"])}
    after = {c["comment_id"]: c for c in rows(batch_files(source, second["batch"])["comments"])}
    assert after.keys() == before.keys()
    assert all(after[i]["score"] == before[i]["score"] + 1 for i in after)
    assert all(after[i]["observed_utc"] > before[i]["observed_utc"] for i in after)
    assert after[gone]["body"] == "[deleted]" and after[gone]["author"] is None


def test_revisiting_rereads_the_posts_of_recent_batches(standin, tmp_path):
    assert extract(standin, tmp_path, "--subreddit", "books", "--comments").returncode == 0
    standin.day, first_run_requests = 1, len(standin.requests)
    result = extract(standin, tmp_path, "--subreddit", "AskReddit", "--comments", "--revisit-days", "2")
    assert result.returncode == 0, result.stderr
    source = tmp_path / "source"
    first, second = (batch_files(source, m["batch"]) for m in batches(source))
    assert {p["id"] for p in rows(second["posts"])} == {ASKREDDIT_THREAD, BOOKS_THREAD}
    before = {c["comment_id"]: c["score"] for c in rows(first["comments"])}
    again = {c["comment_id"]: c["score"] for c in rows(second["comments"]) if c["post_id"] == BOOKS_THREAD}
    assert again == {i: score + 1 for i, score in before.items()}  # books was not asked for: revisited
    assert not any(path.startswith("/r/books") for _, path in standin.requests[first_run_requests:])


def write_batch(source: Path, batch: str) -> None:
    for entity in ENTITIES:
        (source / entity).mkdir(parents=True, exist_ok=True)
        (source / entity / f"part-{batch}.ndjson").write_text("{}\n")
    (source / MANIFEST_DIR).mkdir(exist_ok=True)
    (source / MANIFEST_DIR / f"{batch}.json").write_text(json.dumps({"batch": batch}))


def test_prune_deletes_only_extracted_batches_older_than_the_retention(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("extract:\n  retention_days: 30\n")
    source = tmp_path / "source"
    write_batch(source, "20200101_000000")
    write_batch(source, "29990101_000000")
    args = argparse.Namespace(source=source, dry_run=True)
    assert prune.run(args) == 0
    assert len(list(source.glob("*/*.ndjson"))) == 8  # a dry run deletes nothing
    args.dry_run = False
    assert prune.run(args) == 0
    assert sorted(p.name for p in source.glob("*/*")) == ["29990101_000000.json"] + ["part-29990101_000000.ndjson"] * 4
    # An export that the extractor did not write (no manifests) is never touched.
    assert prune.expired_batches(SAMPLE_RAW, datetime.now(UTC)) == []

