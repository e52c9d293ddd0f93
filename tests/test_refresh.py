"""The daily refresh, end to end: three extracts a (simulated) day apart, each versioned and rebuilt.

The stand-in serves the 15 shared threads as three batches of five, a day apart (every score one higher
each day). After each extract the source folder is `dvc add`ed and `dvc repro processed` runs in a
repo copy, as docs/refreshing-data.md tells a user to.
"""
import hashlib
import json
from collections import Counter

import pytest

from conftest import SHARED_RAW, copy_repo, run, set_params
from reception.batches import SOURCE_DIR
from reddit_standin import RedditStandIn, extract

pytestmark = pytest.mark.integration
DAYS = 3


def sha256s(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_three_daily_batches_append_and_rebuild(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ingest={"source": str(SOURCE_DIR)})
    run(["git", "commit", "-qam", "ingest from the extracted source"], repo)
    source = repo / SOURCE_DIR
    with RedditStandIn(SHARED_RAW) as standin:
        threads = standin.thread_ids()
        sample_scores = {c["comment_id"]: c["score"] for rows in standin.comments.values() for c in rows}
        earlier, lines_read = {}, 0
        for day in range(DAYS):
            standin.day = day
            published = threads[: 5 * (day + 1)]
            standin.publish(published)
            result = extract(standin, tmp_path, "--discover-hot", "20", "--posts-per-subreddit", "10",
                             "--comments", out=source)
            assert result.returncode == 0, result.stderr

            now = sha256s(source)
            assert {k: now[k] for k in earlier} == earlier  # earlier batches untouched
            assert len(now) == 5 * (day + 1)  # four entity files and a manifest per batch, nothing else
            earlier = now
            run(["dvc", "add", str(SOURCE_DIR)], repo)
            run(["git", "add", "-A"], repo)
            run(["git", "commit", "-qm", f"data: day {day}"], repo)
            run(["dvc", "repro", "processed"], repo)

            expected = {cid for pid in published for cid in (c["comment_id"] for c in standin.comments[pid])}
            lines_read += len(expected)
            ingest = json.loads((repo / "metrics/ingest.json").read_text())["comments"]
            assert ingest["lines_read"] == lines_read
            assert ingest["kept"] == len(expected) and ingest["quarantined"] == 0
            assert ingest["duplicates"] == lines_read - len(expected)
            kept = [json.loads(line) for line in (repo / "data/raw/reddit/comments.ndjson").read_text().splitlines()]
            assert {c["comment_id"] for c in kept} == expected
            # the latest observation wins: every kept score is today's
            assert Counter(c["score"] - sample_scores[c["comment_id"]] for c in kept) == {day: len(expected)}
            data = json.loads((repo / "metrics/data.json").read_text())
            flow = data["comments"]
            assert flow["kept"] == len(expected) and flow["dropped_immature"] == 0  # read months after writing
            assert flow["labelled"] == sum(data["split"][s]["rows"] for s in ("train", "val", "test"))
            assert json.loads((repo / "metrics/silver.json").read_text())["threads"] == len(published)
