"""Privacy fails closed: bronze needs RECEPTION_AUTHOR_KEY unless every source file is public data whose authors
are already pseudonyms (data/public_sources.json), and the quarantine keeps no author."""
import hashlib
import json
import runpy
import shutil
import subprocess

import pandas as pd
import pytest

from conftest import REPO, SAMPLE_RAW
from reception.data import pseudonyms
from reception.data.pseudonyms import AUTHOR_KEY_VAR, MIN_KEY_CHARS, pseudonymise, unlisted_files
from reception.data.raw_records import SCHEMAS, ingest_entity, ingest_source, read_files
from reception.data.typed_tables import typed_frame
from reception.paths import BRONZE_DIR, PUBLIC_SOURCES, RAW_DIR, stage_metrics

NAME = "alice_real_name"  # an author name as an extract would read it
KEY = "k" * MIN_KEY_CHARS
# One file of each entity of the sample, at its path inside the sample: public, listed files.
SAMPLE_FILES = ("comments/part-20250101_0000-1otjf0j.ndjson", "posts/part-20250101_0000-funny.ndjson",
                "subreddits/part-20250101_0000-funny.ndjson")
SAMPLE_HOT = "hot_sublists"


def pipeline_folder(tmp_path, monkeypatch, source_files: dict[str, bytes]):
    """A working folder as bronze sees it: params.yaml naming `source`, the manifest, the source files, and
    raw as ingest made it from them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(json.dumps({"ingest": {"source": "source", "part_rows": 1000}}))
    PUBLIC_SOURCES.parent.mkdir(parents=True)
    shutil.copy(REPO / PUBLIC_SOURCES, PUBLIC_SOURCES)
    for rel, data in source_files.items():
        (tmp_path / "source" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "source" / rel).write_bytes(data)
    ingest_source(tmp_path / "source", RAW_DIR)


def extracted_source() -> dict[str, bytes]:
    """A source as `reception extract` writes it (not public): one record of each entity, a real author name."""
    rows = {"comments": {"comment_id": "c1", "post_id": "p1", "author": NAME, "body": "hello", "score": 3,
                         "created_utc": 1.7e9},
            "posts": {"id": "p1", "subreddit": "funny", "author": NAME, "created_utc": 1.7e9},
            "subreddits": {"subreddit": "funny", "subscribers": 10},
            "hot_sublists": {"subreddit": "funny"}}
    return {f"{entity}/part-1.ndjson": json.dumps(row).encode() + b"\n" for entity, row in rows.items()}


def bronze() -> None:
    runpy.run_path(str(REPO / "stages" / "bronze.py"), run_name="__main__")


def written_by_bronze(tmp_path) -> list[str]:
    return sorted(p.relative_to(tmp_path).as_posix() for p in [*(tmp_path / BRONZE_DIR).rglob("*"),
                                                               tmp_path / stage_metrics("bronze")] if p.exists())


def test_an_unlisted_source_without_the_key_stops_bronze_saying_how_to_set_it_and_writes_nothing(
        tmp_path, monkeypatch):
    pipeline_folder(tmp_path, monkeypatch, extracted_source())
    monkeypatch.delenv(AUTHOR_KEY_VAR, raising=False)
    with pytest.raises(SystemExit) as stopped:
        bronze()
    message = str(stopped.value)
    assert f"{AUTHOR_KEY_VAR} is not set" in message and "4 of the 4 files of ingest.source 'source'" in message
    assert "secrets.token_hex" in message and "chmod 600" in message and f"export {AUTHOR_KEY_VAR}=" in message
    assert written_by_bronze(tmp_path) == []
    monkeypatch.setenv(AUTHOR_KEY_VAR, "")  # set but empty is no key
    with pytest.raises(SystemExit, match=f"{AUTHOR_KEY_VAR} is not set"):
        bronze()
    monkeypatch.setenv(AUTHOR_KEY_VAR, KEY[:-1])  # too short to resist a guess
    with pytest.raises(SystemExit, match=f"fewer than {MIN_KEY_CHARS}"):
        bronze()
    assert written_by_bronze(tmp_path) == []


def test_with_the_key_bronze_pseudonymises_the_names_of_an_unlisted_source(tmp_path, monkeypatch):
    pipeline_folder(tmp_path, monkeypatch, extracted_source())
    monkeypatch.setenv(AUTHOR_KEY_VAR, KEY)
    bronze()
    comments = pd.read_parquet(BRONZE_DIR / "comments")
    assert comments["author"].tolist() == pseudonymise(pd.Series([NAME]), KEY.encode()).tolist()
    assert json.loads(stage_metrics("bronze").read_text())["author_key"] == AUTHOR_KEY_VAR
    assert not any(NAME.encode() in p.read_bytes() for p in BRONZE_DIR.rglob("*") if p.is_file())


def test_listed_public_files_need_no_key_and_one_changed_byte_makes_them_need_it(tmp_path, monkeypatch):
    hot = sorted((SAMPLE_RAW / SAMPLE_HOT).glob("*.ndjson"))[0].relative_to(SAMPLE_RAW).as_posix()
    files = {rel: (SAMPLE_RAW / rel).read_bytes() for rel in (*SAMPLE_FILES, hot)}
    pipeline_folder(tmp_path, monkeypatch, files)
    monkeypatch.delenv(AUTHOR_KEY_VAR, raising=False)
    bronze()
    assert json.loads(stage_metrics("bronze").read_text())["author_key"] == "public development key"
    changed = tmp_path / "source" / SAMPLE_FILES[0]
    changed.write_bytes(changed.read_bytes().replace(b'"score":', b'"score": ', 1))
    with pytest.raises(SystemExit, match=f"1 of the 4 files .* \\(e.g. {SAMPLE_FILES[0]}\\)"):
        bronze()


def test_a_missing_source_is_not_public(tmp_path, monkeypatch):
    monkeypatch.delenv(AUTHOR_KEY_VAR, raising=False)
    with pytest.raises(SystemExit, match="no file to read in ingest.source"):
        pseudonyms.author_key(tmp_path / "gone", [], REPO / PUBLIC_SOURCES)


def test_every_file_of_the_sample_and_of_the_corpus_is_listed(corpus_dir):
    for source in (SAMPLE_RAW, corpus_dir):
        files = read_files(source)
        assert files and unlisted_files(source, files, REPO / PUBLIC_SOURCES) == [], source


def test_the_public_manifest_is_tracked_by_git_and_credentials_are_not():
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(PUBLIC_SOURCES)], cwd=REPO,
                             capture_output=True, text=True)
    assert tracked.returncode == 0, tracked.stderr
    ignored = subprocess.run(["git", "check-ignore", "praw.ini", ".env"], cwd=REPO, capture_output=True, text=True)
    assert ignored.stdout.split() == ["praw.ini", ".env"]


# The quarantine keeps no author.

def test_quarantined_lines_keep_no_author(tmp_path):
    source, out = tmp_path / "source", tmp_path / "out"
    (source / "comments").mkdir(parents=True)
    out.mkdir()
    broken_schema = {"comment_id": "c1", "post_id": "p1", "body": "hi", "score": "many", "created_utc": 1.7e9,
                     "author": NAME, "author_fullname": "t2_abc", "author_flair_text": NAME}
    cut = f'{{"comment_id": "c2", "author": "{NAME}", "body": "cut he'.encode()
    not_utf8 = f'{{"author": "{NAME}"}}'.encode() + b"\xff"
    lines = [json.dumps(broken_schema).encode(), cut, not_utf8]
    (source / "comments" / "part-1.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    counts = ingest_entity(source, "comments", out)
    assert counts["quarantined"] == 3 and counts["kept"] == 0
    text = (out / "quarantine.ndjson").read_text()
    assert NAME not in text and "t2_abc" not in text
    schema, malformed, undecodable = map(json.loads, text.splitlines())
    assert schema == {"entity": "comments", "source_file": "comments/part-1.ndjson", "line": 1,
                      "reason": "wrong type: score",
                      "record": {k: v for k, v in broken_schema.items() if not k.startswith("author")}}
    for entry, raw, line, reason in ((malformed, cut, 2, "malformed JSON"),
                                     (undecodable, not_utf8, 3, "invalid UTF-8")):
        assert entry == {"entity": "comments", "source_file": "comments/part-1.ndjson", "line": line,
                         "reason": reason, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}


def test_bronze_pseudonymises_a_dumps_account_id_and_drops_the_other_author_fields(tmp_path):
    record = {"comment_id": "c1", "post_id": "p1", "body": "hi", "score": 1, "created_utc": 1.7e9, "author": NAME,
              "author_fullname": "t2_abc", "author_flair_text": "my flair", "author_premium": True,
              "_source_file": "x", "_source_line": 1}
    frame = typed_frame(pd.DataFrame([record]), "comments", KEY.encode())
    assert frame.loc[0, "author"] == pseudonymise(pd.Series([NAME]), KEY.encode())[0]
    assert frame.loc[0, "author_fullname"] == pseudonymise(pd.Series(["t2_abc"]), KEY.encode())[0]
    assert {c for c in frame.columns if c.startswith("author")} == {"author", "author_fullname"}
    assert set(SCHEMAS["comments"][1]) - {"parent_id", "link_id", "is_submitter"} <= set(frame.columns)


def test_a_deleted_account_is_nobody_not_one_author(tmp_path):
    """Reddit writes "[deleted]" for every gone account: one pseudonym for all would make strangers one author
    to the conversation features, so it is missing, as a missing author is."""
    records = [{"comment_id": f"c{i}", "post_id": "p1", "body": "hi", "score": 1, "created_utc": 1.7e9 + i,
                "author": author, "_source_file": "x", "_source_line": i}
               for i, author in enumerate([NAME, "[deleted]", "[deleted]", None])]
    frame = typed_frame(pd.DataFrame(records), "comments", KEY.encode())
    assert frame["author"].iloc[0] == pseudonymise(pd.Series([NAME]), KEY.encode())[0]
    assert frame["author"].iloc[1:].isna().all()
