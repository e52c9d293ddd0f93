"""ingest: every raw line is kept, counted as a duplicate or quarantined with its reason."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import zstandard

from reception.data.pseudonyms import DEVELOPMENT_KEY
from reception.data.raw_records import SCHEMAS, DumpScope, ingest_entity, ingest_source, kept_records, validate
from reception.data.typed_tables import ENTITIES, bronze_entities, write_days

COMMENT_FIELDS = SCHEMAS["comments"][1]
GOOD = {"comment_id": "c1", "post_id": "p1", "author": None, "body": "hola 😀", "created_utc": 1.7e9,
        "parent_id": "t3_p1", "link_id": "t3_p1", "score": -3, "is_submitter": False}


def line(**changes) -> bytes:
    record = {k: v for k, v in {**GOOD, **changes}.items() if v is not ...}
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"comment_id": "c1", "body": ', "malformed JSON"),
        (b"", "empty line"),
        (b"   ", "empty line"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe{}", "invalid UTF-8"),
        (line(comment_id=...), "missing field: comment_id"),
        (line(body=...), "missing field: body"),
        (line(score=None), "missing field: score"),
        (line(score="12"), "wrong type: score"),
        (line(score=True), "wrong type: score"),  # a JSON boolean is no number
        (line(score=1.5), "wrong type: score"),
        (line(created_utc="yesterday"), "wrong type: created_utc"),
        (line(is_submitter="yes"), "wrong type: is_submitter"),
        (line(comment_id=""), "empty field: comment_id"),
        (line(body=["not", "text"]), "wrong type: body"),
        (b'{"comment_id": "c1", "post_id": "p", "body": "x", "score": 1, "created_utc": NaN}',
         "wrong type: created_utc"),
    ],
)
def test_validate_quarantines_with_reason(raw, reason):
    record, why = validate(raw, COMMENT_FIELDS)
    assert record is None
    assert why == reason


def test_validate_keeps_good_line_and_unknown_fields():
    record, why = validate(line(extra_field=[1, 2]), COMMENT_FIELDS)
    assert why is None
    assert record["body"] == "hola 😀" and record["score"] == -3 and record["extra_field"] == [1, 2]


def test_ingest_entity_accounts_for_every_line(tmp_path):
    source, out = tmp_path / "raw", tmp_path / "out"
    (source / "comments").mkdir(parents=True)
    out.mkdir()
    lines = [line(), line(comment_id="c2"), b"{oops", line(score="x"), line(), line(comment_id="c2", score=99), b""]
    (source / "comments" / "part-1.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    (source / "comments" / "part-2.ndjson").write_bytes(line(comment_id="c3") + b"\n")

    counts = ingest_entity(source, "comments", out)

    assert counts["lines_read"] == 8
    assert counts["kept"] == 3
    assert counts["duplicates"] == 2 and counts["duplicates_conflicting"] == 1
    assert counts["quarantined"] == 3
    assert counts["quarantine_reasons"] == {"empty line": 1, "malformed JSON": 1, "wrong type: score": 1}
    assert counts["lines_read"] == counts["kept"] + counts["duplicates"] + counts["quarantined"]

    kept = list(kept_records(out, "comments"))
    assert [r["comment_id"] for r in kept] == ["c1", "c2", "c3"]  # one partition: in the order first read
    assert kept[2]["_source_file"] == "comments/part-2.ndjson" and kept[2]["_source_line"] == 1
    quarantined = [json.loads(x) for x in (out / "quarantine.ndjson").read_text().splitlines()]
    assert {(q["line"], q["reason"]) for q in quarantined} == {(3, "malformed JSON"), (4, "wrong type: score"),
                                                              (7, "empty line")}
    assert quarantined[0]["sha256"] == hashlib.sha256(b"{oops").hexdigest() and quarantined[0]["bytes"] == 5
    duplicates = [json.loads(x) for x in (out / "duplicates.ndjson").read_text().splitlines()]
    assert [(d["key"], d["identical"], d["first_line"]) for d in duplicates] == [(["c1"], True, 1), (["c2"], False, 2)]
    assert duplicates[1]["record"]["score"] == 99  # the conflicting copy is kept, not lost


def run_ingest(repo: Path, source: str) -> subprocess.CompletedProcess:
    (repo / "params.yaml").write_text(f"base: {{seed: 1}}\ningest:\n  source: {source}\n  part_rows: 1000\n")
    script = Path(__file__).resolve().parents[1] / "stages" / "ingest.py"
    return subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True, text=True)


def empty_source(folder: Path) -> str:
    """A source whose entity folders hold no *.ndjson file."""
    for entity in SCHEMAS:
        (folder / "empty" / entity).mkdir(parents=True)
    return "empty"


@pytest.mark.parametrize(("make_source", "named"), [
    (lambda folder: "does/not/exist", "does/not/exist"),
    (empty_source, "empty/comments"),
], ids=["missing", "empty"])
def test_a_source_without_exports_fails_in_one_line_naming_the_folder_and_the_param(tmp_path, make_source, named):
    result = run_ingest(tmp_path, make_source(tmp_path))
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert named in message and "ingest.source" in message


def ingest_lines(tmp_path, entity: str, *files: list[bytes], part_rows: int = 100_000,
                 name: str = "out") -> tuple[dict, list[dict], list[dict]]:
    """Ingest one entity from the given files (one list of lines each): counts, kept rows, duplicates."""
    source, out = tmp_path / "raw", tmp_path / name
    (source / entity).mkdir(parents=True, exist_ok=True)
    out.mkdir()
    for number, lines in enumerate(files, start=1):
        (source / entity / f"part-{number}.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    counts = ingest_entity(source, entity, out, part_rows=part_rows)
    duplicates = [json.loads(x) for x in (out / "duplicates.ndjson").read_text().splitlines()]
    return counts, list(kept_records(out, entity)), duplicates


def test_the_latest_observation_is_kept_and_earlier_ones_are_the_audit_trail(tmp_path):
    day1 = [line(comment_id="c1", score=1, observed_utc=1.7e9 + 10), line(comment_id="c2", score=5)]
    day2 = [line(comment_id="c1", score=40, observed_utc=1.7e9 + 86400), line(comment_id="c2", score=6,
                                                                          observed_utc=1.7e9)]
    counts, kept, duplicates = ingest_lines(tmp_path, "comments", day2, day1)  # files read newest first
    assert {r["comment_id"]: r["score"] for r in kept} == {"c1": 40, "c2": 6}  # a copy without time is oldest
    assert counts["kept"] == 2 and counts["duplicates"] == counts["duplicates_conflicting"] == 2
    assert {(d["key"][0], d["record"]["score"], d["kept_source_file"]) for d in duplicates} == {
        ("c1", 1, "comments/part-1.ndjson"), ("c2", 5, "comments/part-1.ndjson")}


def test_same_content_read_twice_is_an_identical_duplicate(tmp_path):
    counts, kept, duplicates = ingest_lines(tmp_path, "comments", [line(observed_utc=1.0)], [line(observed_utc=2.0)])
    assert kept[0]["observed_utc"] == 2.0 and duplicates[0]["identical"] and counts["duplicates_conflicting"] == 0


def test_a_comment_seen_deleted_loses_its_text_and_author_everywhere(tmp_path):
    first = line(comment_id="c1", body="my words", author="someone", observed_utc=1.0)
    later = line(comment_id="c1", body="[removed]", author="someone", observed_utc=2.0)
    counts, kept, duplicates = ingest_lines(tmp_path, "comments", [first], [later])
    assert counts["deleted"] == 1
    assert (kept[0]["body"], kept[0]["author"]) == ("[removed]", None)
    assert (duplicates[0]["record"]["body"], duplicates[0]["record"]["author"]) == ("[removed]", None)
    assert "my words" not in (tmp_path / "out" / "duplicates.ndjson").read_text()


def test_a_post_seen_deleted_loses_title_text_and_author(tmp_path):
    post = {"id": "p1", "subreddit": "r", "created_utc": 1.0, "title": "a title", "selftext": "body",
            "author": "someone"}
    gone = {**post, "selftext": "[deleted]", "observed_utc": 5.0}
    counts, kept, duplicates = ingest_lines(tmp_path, "posts", [json.dumps(post).encode()],
                                            [json.dumps(gone).encode()])
    assert counts["deleted"] == 1
    assert {k: kept[0][k] for k in ("title", "selftext", "author")} == {"title": None, "selftext": "[deleted]",
                                                                       "author": None}
    assert duplicates[0]["record"]["title"] is None


def write_dump(path: Path, lines: list[bytes], cut: bool = False) -> None:
    """A dump file as the dump tools write it: NDJSON in a zstd stream; `cut`: the stream stops halfway."""
    data = zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n")
    path.write_bytes(data[: len(data) // 2] if cut else data)


def dump_comment(comment_id: str, **fields) -> bytes:
    record = {"id": comment_id, "link_id": "t3_p1", "parent_id": "t3_p1", "author": "u_0123456789abcdef",
              "body": "thanks, that helped", "created_utc": 1_600_000_100, "score": 2, "subreddit": "College",
              "retrieved_on": 1_634_000_000, **fields}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def test_a_dump_folder_with_real_dumps_quirks_accounts_for_every_line(tmp_path):
    source, out = tmp_path / "dumps", tmp_path / "out"
    source.mkdir()
    write_dump(source / "College_submissions.zst", [
        json.dumps({"id": "p1", "name": "t3_p1", "subreddit": "College", "author": "u_aaaaaaaaaaaaaaaa",
                    "title": "t", "selftext": "s", "created_utc": "1600000000", "retrieved_on": 1634000000,
                    "score": 5}).encode(),
        json.dumps({"id": "p2", "subreddit": "College"}).encode(),  # no created_utc
    ])
    write_dump(source / "College_comments.zst", [
        dump_comment("c1", created_utc="1600000100"),  # a string time, as older dumps write it
        dump_comment("c2", body="[removed]"),
        dump_comment("c3", score=...),  # a missing field
        dump_comment("c4", link_id="t3_p9", parent_id="t3_p9"),  # its thread has no submission
        dump_comment("c5", created_utc=1_500_000_000),  # before `since`
        dump_comment("c1", created_utc="1600000100", score=9, retrieved_on=1_634_500_000),  # read again later
        b'{"id": "c7", "link_id": "t3_p1", "bo',  # the last line, cut
    ])
    write_dump(source / "GradSchool_comments.zst", [dump_comment("g1", subreddit="GradSchool")])

    report = ingest_source(source, out, DumpScope(frozenset({"college"}), since=1_590_000_000.0))
    comments = report["comments"]
    assert comments["lines_read"] == 7 and comments["dump_files_skipped"] == 1
    assert (comments["kept"], comments["duplicates"], comments["quarantined"], comments["out_of_scope"]) == (3, 1, 2, 1)
    assert comments["quarantine_reasons"] == {"malformed JSON": 1, "missing field: score": 1}
    assert report["posts"]["quarantine_reasons"] == {"missing field: created_utc": 1}
    assert report["subreddits"]["lines_read"] == 0 and report["hot_sublists"]["lines_read"] == 0
    total = report["total"]
    assert total["lines_read"] == total["kept"] + total["duplicates"] + total["quarantined"] + total["out_of_scope"]

    kept = {r["comment_id"]: r for r in kept_records(out, "comments")}
    assert set(kept) == {"c1", "c2", "c4"}
    assert kept["c1"]["score"] == 9 and kept["c1"]["observed_utc"] == 1_634_500_000  # the latest reading
    assert kept["c1"]["created_utc"] == 1_600_000_100 and kept["c1"]["post_id"] == "p1"
    assert kept["c2"]["body"] == "[removed]" and kept["c2"]["author"] is None
    assert kept["c4"]["post_id"] == "p9" and kept["c1"]["_source_file"] == "College_comments.zst"
    [post] = kept_records(out, "posts")
    assert post["created_utc"] == 1_600_000_000 and post["observed_utc"] == 1_634_000_000


def test_a_cut_dump_file_is_read_to_the_cut_and_the_cut_is_quarantined(tmp_path):
    source, out = tmp_path / "dumps", tmp_path / "out"
    source.mkdir()
    write_dump(source / "College_comments.zst", [dump_comment(f"c{i}", body="x" * (i % 97)) for i in range(3000)],
               cut=True)
    report = ingest_source(source, out)
    comments = report["comments"]
    assert comments["files_cut"] == 1 and 0 < comments["lines_read"] < 3000
    assert comments["lines_read"] == comments["kept"] + comments["quarantined"]
    cuts = [q for q in map(json.loads, (out / "quarantine.ndjson").read_text().splitlines()) if q["line"] is None]
    assert [q["reason"].split(":")[0] for q in cuts] == ["file cut"]


def test_dump_scope_reads_days_from_params():
    scope = DumpScope.from_params({"subreddits": ["College"], "since": "2021-01-01", "until": None})
    assert scope.subreddits == {"college"} and scope.since == 1_609_459_200 and scope.until is None
    assert DumpScope.from_params({"subreddits": None, "since": None, "until": None}) == DumpScope()


def by_key(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def test_copies_read_in_different_chunks_are_resolved_as_in_one(tmp_path):
    """Copies of one id far apart in the read order land in different chunks of 2 lines, and partitions of
    about 2 rows: the same kept records, audit trail and counts as when everything is one chunk."""
    files = [[line(comment_id="c1", score=1, observed_utc=10.0), line(comment_id="c2"), line(comment_id="c3")],
             [line(comment_id="c4"), line(comment_id="c1", body="[deleted]", observed_utc=5.0), b"{oops"],
             [line(comment_id="c5"), line(comment_id="c3", score=7), line(comment_id="c1", score=3, observed_utc=20.0),
              line(comment_id="c2"), line(comment_id="c6", observed_utc=1.0)],
             [line(comment_id="c6", score=8, observed_utc=1.0)]]  # a tie: the first read stays
    one = ingest_lines(tmp_path, "comments", *files, name="one")
    small = ingest_lines(tmp_path, "comments", *files, part_rows=2, name="small")
    assert len(list((tmp_path / "small" / "comments").glob("part-*.parquet"))) == 6  # ceil(11 valid / 2)
    counts, kept, duplicates = small
    assert counts == one[0] and by_key(kept) == by_key(one[1]) and by_key(duplicates) == by_key(one[2])
    assert counts["lines_read"] == 12 == counts["kept"] + counts["duplicates"] + counts["quarantined"]
    assert (counts["kept"], counts["duplicates"], counts["duplicates_conflicting"], counts["deleted"]) == (6, 5, 4, 1)
    kept = {r["comment_id"]: r for r in kept}
    assert (kept["c1"]["score"], kept["c1"]["body"], kept["c1"]["_source_line"]) == (3, "[deleted]", 3)
    # without observed_utc, or tied on it: the first read
    assert (kept["c3"]["score"], kept["c3"]["_source_file"]) == (-3, "comments/part-1.ndjson")
    assert (kept["c6"]["score"], kept["c6"]["_source_file"]) == (-3, "comments/part-3.ndjson")
    trail = {(d["key"][0], d["record"]["_source_file"], d["record"]["_source_line"]): d for d in duplicates}
    assert set(trail) == {("c1", "comments/part-1.ndjson", 1), ("c1", "comments/part-2.ndjson", 2),
                          ("c3", "comments/part-3.ndjson", 2), ("c2", "comments/part-3.ndjson", 4),
                          ("c6", "comments/part-4.ndjson", 1)}
    assert trail[("c2", "comments/part-3.ndjson", 4)]["identical"]
    assert all(d["record"]["body"] == "[deleted]" for k, d in trail.items() if k[0] == "c1")
    assert trail[("c1", "comments/part-1.ndjson", 1)]["first_line"] == 1
    assert trail[("c1", "comments/part-1.ndjson", 1)]["kept_source_file"] == "comments/part-3.ndjson"


def small_source(folder):
    """Every entity, with copies, a deletion, a broken line and a column null in most records."""
    for entity in ENTITIES:
        (folder / entity).mkdir(parents=True)
    comments = [line(comment_id=f"c{i}", post_id=f"p{i % 3}", created_utc=1.7e9 + 40_000 * i, score=i,
                     is_submitter=True if i == 7 else ..., observed_utc=float(i % 4)) for i in range(12)]
    (folder / "comments" / "part-1.ndjson").write_bytes(b"\n".join(comments[:8]) + b"\n{broken\n")
    (folder / "comments" / "part-2.ndjson").write_bytes(b"\n".join([*comments[4:], line(comment_id="c2",
                                                        body="[removed]", observed_utc=0.5)]) + b"\n")
    posts = [json.dumps({"id": f"p{i}", "subreddit": "r", "created_utc": 1.7e9 + 90_000 * i, "author": f"a{i}",
                         "edited": [False, 1.7e9 + 5][i % 2], "score": i}).encode() for i in range(5)]
    (folder / "posts" / "part-1.ndjson").write_bytes(b"\n".join(posts + posts[:2]) + b"\n")
    (folder / "subreddits" / "part-1.ndjson").write_text(json.dumps({"subreddit": "r", "subscribers": 3}) + "\n")
    (folder / "hot_sublists" / "part-1.ndjson").write_text(
        "".join(json.dumps({"subreddit": s}) + "\n" for s in ("r", "q", "r")))


def files_of(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ingest_and_bronze_write_the_same_bytes_run_after_run_and_part_rows_changes_no_row(tmp_path):
    small_source(tmp_path / "source")
    runs = {}
    for name, part_rows in (("a", 3), ("b", 3), ("large", 100_000)):
        report = ingest_source(tmp_path / "source", tmp_path / name / "raw", part_rows=part_rows)
        total = report["total"]
        assert total["lines_read"] == 29 == total["kept"] + total["duplicates"] + total["quarantined"]
        tables = bronze_entities(tmp_path / name / "raw", tmp_path / name / "bronze", DEVELOPMENT_KEY.encode(),
                                 part_rows)
        runs[name] = report, tables
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    assert files_of(tmp_path / "a" / "bronze") == files_of(tmp_path / "large" / "bronze")  # part_rows: no byte
    assert len(list((tmp_path / "a" / "raw" / "comments").glob("part-*.parquet"))) == 6  # ceil(17 valid / 3)
    assert runs["a"] == runs["large"]
    assert by_key(kept_records(tmp_path / "a" / "raw", "comments")) == by_key(
        kept_records(tmp_path / "large" / "raw", "comments"))
    for entity, key in ENTITIES.items():  # one schema for all partitions: as typed whole
        small, large = (pd.read_parquet(tmp_path / name / "bronze" / entity).sort_values(key, ignore_index=True)
                        for name in ("a", "large"))
        pd.testing.assert_frame_equal(small, large, check_categorical=False)
    comments = pd.read_parquet(tmp_path / "a" / "bronze" / "comments")
    assert str(comments["is_submitter"].dtype) == "bool[pyarrow]" and comments["is_submitter"].sum() == 1
    assert comments.set_index("comment_id").loc["c2", "body"] == "[removed]"


def test_an_empty_partition_writes_no_day(tmp_path):
    """A shuffle by day can leave a partition empty (few days, more partitions): it writes nothing."""
    empty = pd.DataFrame({name: pd.Series(dtype="str") for name in ("YYYY", "MM", "DD", "comment_id")})
    written = write_days(empty, tmp_path, ["comment_id"], empty.dtypes.to_dict())
    assert written.to_dict("records") == [{"days": 0, "rows": 0}]
    assert list(tmp_path.iterdir()) == []
