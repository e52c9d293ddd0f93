"""Progress lines of the long steps: how often they go out, what they say, and that the steps count right."""
import io
import json

import numpy as np
import zstandard

from reception.models.search import tpe_search
from reception.progress import Progress, clock_text
from reception.reddit import dumps


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def progress(total, unit="texts", **kwargs) -> tuple[Progress, Clock, io.StringIO]:
    clock, stream = Clock(), io.StringIO()
    return Progress("embed train", total, unit, clock=clock, stream=stream, **kwargs), clock, stream


def test_a_line_at_most_every_ten_seconds_with_the_rate_and_eta():
    counter, clock, stream = progress(1000)
    for _ in range(4):  # 4 s apart: the first line once 10 s have passed since the start
        clock.now += 4
        counter.advance(50)
    assert stream.getvalue().splitlines() == ["embed train: 150/1,000 texts (15 %), 12.5 texts/s, ETA 01:08"]
    clock.now += 4  # 8 s after the last line: nothing
    counter.advance(50)
    assert len(stream.getvalue().splitlines()) == 1


def test_the_end_is_reported_once_when_the_total_is_reached():
    counter, clock, stream = progress(100)
    clock.now += 3
    counter.advance(60)
    clock.now += 2
    counter.advance(40)
    counter.finish()
    counter.advance(5)
    assert stream.getvalue().splitlines() == ["embed train: 100/100 texts (100 %), 20 texts/s, done in 00:05"]


def test_without_a_total_there_is_no_eta_and_finish_closes():
    counter, clock, stream = progress(None, unit="lines")
    clock.now += 12
    counter.advance(30)
    clock.now += 3
    counter.advance(15)
    counter.finish()
    assert stream.getvalue().splitlines() == ["embed train: 30 lines, 2.5 lines/s, 00:12 elapsed",
                                              "embed train: 45 lines, 3 lines/s, 00:15 elapsed"]


def test_scale_shows_bytes_as_megabytes_and_long_etas_in_hours():
    counter, clock, stream = progress(7_200_000_000, unit="MB", scale=1e6)
    clock.now += 10
    counter.advance(5_000_000)
    assert stream.getvalue() == "embed train: 5/7,200 MB (0 %), 0.5 MB/s, ETA 3:59:50\n"
    assert clock_text(59.6) == "01:00" and clock_text(3600) == "1:00:00"


def test_a_dump_file_advances_by_its_compressed_bytes_to_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(dumps, "CHUNK", 1000)  # several reads
    path = tmp_path / "Sub_comments.zst"
    rng = np.random.default_rng(0)
    lines = [json.dumps({"id": f"c{i}", "body": rng.bytes(20).hex()}).encode() + b"\n" for i in range(300)]
    path.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines)))
    counter, _, stream = progress(path.stat().st_size, unit="MB", scale=1e6)
    read = list(dumps.read_lines(path, counter))
    assert len(read) == 300
    assert counter.done == path.stat().st_size > 3 * dumps.CHUNK
    assert stream.getvalue().count("(100 %)") == 1


def test_the_search_counts_its_trials(capsys):
    tpe_search({"x": {"uniform": [0.0, 1.0]}}, lambda c: {"auc": -(c["x"] - 0.3) ** 2}, "auc", max_evals=6, seed=1,
               progress="hpo toy")
    assert capsys.readouterr().err.splitlines()[-1].startswith("hpo toy: 6/6 trials (100 %)")


def test_encoding_with_progress_gives_the_same_vectors_and_counts_every_text(capsys):
    from reception.models.encoder import encode, load_encoder, resolve_model_dir
    from reception.params import all_params

    settings = all_params()["encoder"]
    encoder = load_encoder(resolve_model_dir(settings["model"]), settings["sha256"], "cpu")
    texts = [f"comment number {i} " + "word " * (i % 13) for i in range(21)]
    counted = encode(encoder, texts, batch_size=4, progress="embed toy")
    assert counted.dtype == np.float32 and counted.shape == (21, 384)
    assert capsys.readouterr().err.splitlines()[-1].startswith("embed toy: 21/21 texts (100 %)")
    assert np.array_equal(counted, encode(encoder, texts, batch_size=4))
