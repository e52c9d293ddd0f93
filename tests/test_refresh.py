"""The daily refresh, end to end: three extracts a (simulated) day apart, each versioned and rebuilt.

The stand-in serves the 15 shared threads as three batches of five, a day apart (every score one higher
each day; on the last day one comment of the first day has been deleted). After each extract the
source folder is `dvc add`ed and `dvc repro processed` runs in a repo copy, as
docs/refreshing-data.md tells a user to. Then the same data is split forward in time.
"""
import hashlib
import json
from collections import Counter

import pandas as pd
import pytest

from conftest import SHARED_RAW, copy_repo, run, set_params
from reception import paths
from reception.paths import SOURCE_DIR
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
        bodies = [c["body"] for rows in standin.comments.values() for c in rows]
        # A comment of the first day whose words no other comment quotes.
        deleted = next(c for c in standin.comments[threads[0]] if c["author"] and len(c["body"]) > 20
                       and sum(c["body"] in b for b in bodies) == 1)
        for day in range(DAYS):
            standin.day = day
            if day == DAYS - 1:
                standin.deleted = {deleted["comment_id"]}
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

    # What its writer took back is gone from every derived layer, the audit trail included; the source
    # keeps it until `reception prune`. No author name is left beyond raw.
    for path in (repo / "data/raw/reddit").glob("*.ndjson"):
        assert deleted["body"] not in path.read_text(), path.name
    interim = pd.read_parquet(repo / paths.LIVE_COMMENTS)
    assert deleted["comment_id"] not in set(interim["comment_id"])
    authors = set(pd.read_parquet(repo / "data/silver/reddit/dim_author.parquet")["author"])
    assert all(a.startswith("u_") for a in authors) and deleted["author"] not in authors

    set_params(repo, split={"strategy": "time"})
    run(["dvc", "repro", "processed"], repo)
    split = json.loads((repo / "metrics/data.json").read_text())["split"]
    assert split["train"]["thread_start_utc"][1] < split["val"]["thread_start_utc"][0]
    assert split["val"]["thread_start_utc"][1] < split["test"]["thread_start_utc"][0]
    assert sum(split[s]["threads"] for s in ("train", "val", "test")) == len(threads)
