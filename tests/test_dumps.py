"""Reading per-subreddit dump files: streamed, long-window frames, cut files, the field mapping, filters."""
import io
import json

import pytest
import zstandard

from reception.reddit import dumps


def compressed(lines: list[bytes], window_log: int | None = None) -> bytes:
    """One zstd frame of the lines, written as a stream (no content size), like the dump tools do."""
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log or 0,
                                                            enable_ldm=bool(window_log))
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as writer:
        writer.write(b"".join(lines))
    return out.getvalue()


def lines_of(n: int) -> list[bytes]:
    return [json.dumps({"id": f"c{i}", "body": "x" * (i % 50)}).encode() + b"\n" for i in range(n)]


def test_a_long_window_frame_is_read_where_the_default_limit_refuses_it(tmp_path):
    path = tmp_path / "Sub_comments.zst"
    path.write_bytes(compressed(lines_of(3), window_log=31))
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    assert [n for n, _ in dumps.read_lines(path)] == [1, 2, 3]


def test_lines_are_whole_across_chunks_and_concatenated_frames(tmp_path, monkeypatch):
    monkeypatch.setattr(dumps, "CHUNK", 7)  # chunk boundaries fall inside lines and inside frames
    first, second = lines_of(40), lines_of(25)
    path = tmp_path / "Sub_comments.zst"
    path.write_bytes(compressed(first) + compressed(second))
    read = list(dumps.read_lines(path))
    assert [line + b"\n" for _, line in read] == first + second
    assert [n for n, _ in read] == list(range(1, 66))


def test_a_cut_file_yields_what_it_holds_then_says_it_was_cut(tmp_path):
    whole = compressed(lines_of(5000))
    path = tmp_path / "Sub_comments.zst"
    path.write_bytes(whole[: len(whole) * 3 // 4])
    read = []
    with pytest.raises(dumps.TruncatedDump, match="ends inside a frame"):
        for item in dumps.read_lines(path):
            read.append(item)
    assert read, "the lines before the cut are read"
    assert all(line.startswith(b'{"id": "c') for _, line in read)


def test_a_last_line_without_newline_is_yielded_as_it_is(tmp_path):
    path = tmp_path / "Sub_comments.zst"
    path.write_bytes(compressed([b'{"id": "a"}\n', b'{"id": "b", "bo']))
    assert [line for _, line in dumps.read_lines(path)] == [b'{"id": "a"}', b'{"id": "b", "bo']


def test_comment_fields_are_mapped_to_the_raw_schema_and_string_times_become_numbers():
    raw = dumps.to_raw("comments", {"id": "k1", "link_id": "t3_p1", "parent_id": "t1_k0", "body": "hi",
                                    "created_utc": "1437802945", "retrieved_on": 1634058996.5, "score": 3})
    assert raw["comment_id"] == "k1" and raw["post_id"] == "p1" and "id" not in raw
    assert raw["created_utc"] == 1437802945 and isinstance(raw["created_utc"], int)
    assert raw["observed_utc"] == 1634058996.5 and "retrieved_on" not in raw
    assert raw["parent_id"] == "t1_k0" and raw["link_id"] == "t3_p1"
    assert dumps.to_raw("comments", {"id": "k", "created_utc": "1437802945.25"})["created_utc"] == 1437802945.25


def test_unreadable_fields_are_left_for_validation():
    raw = dumps.to_raw("comments", {"id": "k", "created_utc": "yesterday"})
    assert raw["created_utc"] == "yesterday" and raw["post_id"] is None
    post = dumps.to_raw("posts", {"id": "p", "created_utc": 5, "retrieved_on": "7"})
    assert post == {"id": "p", "created_utc": 5, "observed_utc": 7}


def test_filters_keep_a_subreddit_and_a_time_window_but_not_judge_broken_records():
    subs = frozenset({"college"})
    assert dumps.in_scope({"subreddit": "College", "created_utc": 10}, subs, 10, 20)
    assert not dumps.in_scope({"subreddit": "GradSchool", "created_utc": 10}, subs, None, None)
    assert not dumps.in_scope({"subreddit": "College", "created_utc": 20}, subs, 10, 20)
    assert not dumps.in_scope({"subreddit": "College", "created_utc": 9.5}, subs, 10, None)
    assert dumps.in_scope({"created_utc": "garbage"}, subs, 10, 20)


def test_dump_files_and_their_subreddit(tmp_path):
    for name in ("B_comments.zst", "A_comments.zst", "A_submissions.zst", "notes.txt"):
        (tmp_path / name).touch()
    assert [p.name for p in dumps.dump_files(tmp_path, "comments")] == ["A_comments.zst", "B_comments.zst"]
    assert [dumps.subreddit_of(p) for p in dumps.dump_files(tmp_path, "posts")] == ["A"]
    assert dumps.dump_files(tmp_path, "subreddits") == []


def test_a_real_dump_file_reads_whole(corpus_dir):
    path = corpus_dir / "CollegeAdvice_comments.zst"
    records = [dumps.to_raw("comments", json.loads(line)) for _, line in dumps.read_lines(path)]
    assert len(records) == 1204  # the corpus README's count for r/CollegeAdvice
    assert all(r["post_id"] and r["comment_id"] and isinstance(r["created_utc"], int) for r in records)
