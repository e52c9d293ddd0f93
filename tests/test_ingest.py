"""ingest: every raw line is kept, counted as a duplicate or quarantined with its reason."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from stages.ingest import SCHEMAS, ingest_entity, validate

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

    kept = [json.loads(x) for x in (out / "comments.ndjson").read_text().splitlines()]
    assert [r["comment_id"] for r in kept] == ["c1", "c2", "c3"]
    assert kept[2]["_source_file"] == "comments/part-2.ndjson" and kept[2]["_source_line"] == 1
    quarantined = [json.loads(x) for x in (out / "quarantine.ndjson").read_text().splitlines()]
    assert {(q["line"], q["reason"]) for q in quarantined} == {(3, "malformed JSON"), (4, "wrong type: score"),
                                                              (7, "empty line")}
    assert quarantined[0]["raw"] == "{oops"
    duplicates = [json.loads(x) for x in (out / "duplicates.ndjson").read_text().splitlines()]
    assert [(d["key"], d["identical"], d["first_line"]) for d in duplicates] == [(["c1"], True, 1), (["c2"], False, 2)]
    assert duplicates[1]["record"]["score"] == 99  # the conflicting copy is kept, not lost


def run_ingest(repo: Path, source: str) -> subprocess.CompletedProcess:
    (repo / "params.yaml").write_text(f"base: {{seed: 1}}\ningest:\n  source: {source}\n")
    script = Path(__file__).resolve().parents[1] / "stages" / "ingest.py"
    return subprocess.run([sys.executable, str(script)], cwd=repo, capture_output=True, text=True)


def test_missing_source_fails_with_path_and_param(tmp_path):
    result = run_ingest(tmp_path, "does/not/exist")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "does/not/exist" in message and "ingest.source" in message


def test_empty_source_fails_with_path_and_param(tmp_path):
    for entity in SCHEMAS:
        (tmp_path / "empty" / entity).mkdir(parents=True)
    result = run_ingest(tmp_path, "empty")
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "empty/comments" in message and "ingest.source" in message
