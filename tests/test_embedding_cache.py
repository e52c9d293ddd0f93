"""The embedding cache: each text encoded once per producer, no text stored, pruning to the live texts, and
encoding on a Dask cluster's workers (reception.models.embedding_cache, `reception prune`)."""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run as run_command
from reception import cli
from reception.models import embedding_cache as cache
from reception.models.encoder import (
    BUNDLED_MODEL,
    PRECISION,
    bundled_model_dir,
    encode,
    limit_torch_threads,
    load_encoder,
)
from reception.paths import EMBEDDING_CACHE_DIR, PARAMS_FILE, split_file

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = yaml.safe_load((REPO / PARAMS_FILE).read_text())["encoder"]["sha256"]
CPU = cache.producer(WEIGHTS, "cpu", PRECISION)
SECRET = "my neighbour Alice Example told me the code is 4471"


class CountingEncoder:
    """A stand-in for the sentence encoder: a fixed pseudo-random vector per text, every text it was given kept."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.stack([vector_of(text) for text in texts])


def vector_of(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(6).astype("float32")


def run(cache_dir: Path, texts: list[str], producer_id: str = CPU) -> tuple[np.ndarray, cache.CacheRun, list[str]]:
    """Each text's vector (in order), what the run did and the texts the encoder was given."""
    encoder = CountingEncoder()
    vectors, row, done = cache.vectors_for(texts, cache_dir, producer_id, encoder)
    return vectors[row], done, encoder.seen


def shard_bytes(cache_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in cache.shard_paths(cache_dir)}


def test_shards_hold_keys_and_vectors_never_the_text(tmp_path):
    texts = [SECRET, "short", "ünïcödé text ✓"]
    vectors, done, _ = run(tmp_path, texts)
    stored = b"".join(shard_bytes(tmp_path).values())
    for text in texts:
        assert text.encode("utf-8") not in stored
    assert SECRET[:12].encode() not in stored  # not even a piece of it
    [shard] = cache.shard_paths(tmp_path)
    keys = cache.read_keys(shard)
    assert all(len(key) == cache.KEY_BYTES for key in keys)
    assert sorted(keys) == sorted(cache.text_key(CPU, text) for text in texts)
    assert np.array_equal(vectors, np.stack([vector_of(text) for text in texts]))


def test_a_second_run_encodes_nothing_and_leaves_every_shard_byte_for_byte(tmp_path):
    texts = ["a", "b", "c", "d"]
    first, _, _ = run(tmp_path, texts)
    before = shard_bytes(tmp_path)
    again, done, seen = run(tmp_path, texts)
    assert seen == [] and (done.encoded, done.reused, done.new_shards) == (0, 4, [])
    assert shard_bytes(tmp_path) == before
    assert np.array_equal(again, first)


def test_only_new_texts_are_encoded_into_a_new_shard(tmp_path):
    run(tmp_path, ["a", "b", "c"])
    before = shard_bytes(tmp_path)
    vectors, done, seen = run(tmp_path, ["c", "new 1", "a", "new 2"])
    assert seen == ["new 1", "new 2"] and (done.encoded, done.reused) == (2, 2)
    after = shard_bytes(tmp_path)
    assert {name: after[name] for name in before} == before and len(after) == 2  # the old shard kept as it was
    assert np.array_equal(vectors, np.stack([vector_of(t) for t in ["c", "new 1", "a", "new 2"]]))


def test_duplicate_texts_are_encoded_once(tmp_path):
    texts = ["same", "other", "same", "same", "other", "third"]
    vectors, done, seen = run(tmp_path, texts)
    assert seen == ["same", "other", "third"]
    assert (done.texts, done.unique, done.encoded) == (6, 3, 3)
    assert np.array_equal(vectors, np.stack([vector_of(text) for text in texts]))


def test_weights_device_kind_and_precision_each_change_the_key(tmp_path):
    text = "the same text"
    keys = {cache.text_key(cache.producer(weights, device, precision), text)
            for weights in (WEIGHTS, "0" * 64) for device in ("cpu", "cuda") for precision in ("float32", "float16")}
    assert len(keys) == 8
    # The device's index is not the producer: every GPU of a kind computes the same vectors.
    assert cache.producer(WEIGHTS, "cuda:1", PRECISION) == cache.producer(WEIGHTS, "cuda", PRECISION)
    run(tmp_path, [text])
    _, done, seen = run(tmp_path, [text], cache.producer(WEIGHTS, "cuda", PRECISION))
    assert seen == [text] and done.reused == 0  # the CPU's vector is not reused for the GPU


def test_shards_stay_bounded(tmp_path):
    texts = [f"text {i}" for i in range(25)]
    keys = [cache.text_key(CPU, text) for text in texts]
    written = cache.write_shards(tmp_path, CPU, keys, np.stack([vector_of(t) for t in texts]), shard_rows=10)
    assert [len(cache.read_keys(path)) for path in written] == [10, 10, 5]
    vectors, done, seen = run(tmp_path, texts)
    assert seen == [] and np.array_equal(vectors, np.stack([vector_of(t) for t in texts]))


def test_prune_removes_exactly_the_orphaned_vectors_and_keeps_shared_texts(tmp_path):
    run(tmp_path, ["kept 1", "kept 2"])
    untouched = shard_bytes(tmp_path)
    run(tmp_path, ["gone", "shared", "kept 3"])
    run(tmp_path, ["shared", "gone"], cache.producer(WEIGHTS, "cuda", PRECISION))
    # The live comments: "shared" is the text of a deleted comment and of one still there, so it stays.
    live = cache.live_keys(tmp_path, ["kept 1", "kept 2", "kept 3", "shared", "shared"])
    before = {key for path in cache.shard_paths(tmp_path) for key in cache.read_keys(path)}
    dry = cache.prune_cache(tmp_path, live, dry_run=True)
    assert (dry.removed, dry.kept) == (2, 5) and len(cache.shard_paths(tmp_path)) == 3
    pruned = cache.prune_cache(tmp_path, live)
    assert (pruned.removed, pruned.kept) == (2, 5) and len(pruned.rewritten) == 2
    after = shard_bytes(tmp_path)
    assert {name: after[name] for name in untouched} == untouched  # a shard that lost nothing is not rewritten
    assert all(old.name not in after and new.name in after for old, new in pruned.rewritten)
    held = {key for path in cache.shard_paths(tmp_path) for key in cache.read_keys(path)}
    assert held == before & live and len(held) == 5
    _, done, seen = run(tmp_path, ["kept 1", "kept 2", "kept 3", "shared", "gone"])
    assert seen == ["gone"] and done.reused == 4


def test_prune_of_a_shard_left_empty_deletes_it(tmp_path):
    run(tmp_path, ["only"])
    pruned = cache.prune_cache(tmp_path, set())
    assert pruned.removed == 1 and pruned.rewritten[0][1] is None and cache.shard_paths(tmp_path) == []


def write_processed(root: Path, texts: dict[str, list[str]]) -> None:
    for split, split_texts in texts.items():
        (root / split_file(split)).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"clean_text": split_texts}).to_parquet(root / split_file(split))


def test_reception_prune_keeps_the_vectors_of_texts_in_the_processed_splits(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("extract:\n  retention_days: 30\n")
    (tmp_path / "source").mkdir()  # not written by extract: its batches are not the point here
    run(tmp_path / EMBEDDING_CACHE_DIR, ["train text", "val text", "test text", "left the data", "also shared"])
    write_processed(tmp_path, {"train": ["train text", "also shared"], "val": ["val text"], "test": ["test text"]})
    assert cli.main(["prune", "--source", "source", "--dry-run"]) == 0
    assert "1 vectors of texts in no processed split to remove" in capsys.readouterr().out
    assert len(cache.read_keys(cache.shard_paths(tmp_path / EMBEDDING_CACHE_DIR)[0])) == 5
    assert cli.main(["prune", "--source", "source"]) == 0
    assert "1 vectors of texts in no processed split removed" in capsys.readouterr().out
    [shard] = cache.shard_paths(tmp_path / EMBEDDING_CACHE_DIR)
    assert sorted(cache.read_keys(shard)) == sorted(
        cache.text_key(CPU, text) for text in ["train text", "val text", "test text", "also shared"])
    # Without every split there is no live set: nothing is removed.
    split_file("test").unlink()
    assert cli.main(["prune", "--source", "source"]) == 0
    assert "left as it is" in capsys.readouterr().out and cache.shard_paths(tmp_path / EMBEDDING_CACHE_DIR) == [shard]


def test_cluster_device_asks_for_a_gpu_only_when_the_cluster_advertises_one():
    assert cache.cluster_device(0, "auto") == ("cpu", None)
    assert cache.cluster_device(2, "auto") == ("cuda", {"GPU": 1})
    assert cache.cluster_device(2, "cpu") == ("cpu", None)
    assert cache.cluster_device(0, "cuda") == ("cuda", None)


TEXTS = [f"comment {i}: {'why would anyone ' * (i % 5)}downvote this?" for i in range(40)] + ["comment 3: dup"] * 3


@pytest.mark.integration  # two worker processes, each loading torch and the model: tens of seconds
def test_the_workers_of_a_local_cluster_encode_as_this_process_does(tmp_path):
    """The real MiniLM on two worker processes over loopback: the same vectors as in this process within
    1e-5 (batches differ: a text is padded to its chunk's longest), one encoder loaded per worker."""
    from distributed import Client, LocalCluster

    here = encode(load_encoder(bundled_model_dir(), WEIGHTS, "cpu"), list(dict.fromkeys(TEXTS)), batch_size=8)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assert cache.cluster_gpus(client) == 0
        on_workers = cache.encode_on_cluster(client, list(dict.fromkeys(TEXTS)), BUNDLED_MODEL, WEIGHTS, "cpu",
                                             8, CPU, chunk_texts=6)
        embedded = cache.embed_texts(TEXTS, tmp_path, BUNDLED_MODEL, WEIGHTS, "auto", 8, client)
        loaded = client.run(lambda: len(cache._worker_encoders))
    assert on_workers.dtype == np.float32 and on_workers.shape == here.shape == (41, 384)
    assert np.allclose(on_workers, here, rtol=0, atol=1e-5)
    assert embedded.device == "cpu" and embedded.run.encoded == 41 and embedded.run.reused == 0
    assert np.allclose(embedded.vectors[embedded.row], here[[list(dict.fromkeys(TEXTS)).index(t) for t in TEXTS]],
                       rtol=0, atol=1e-5)
    assert sorted(loaded.values()) == [1, 1]  # each worker process loaded the model once, for all its tasks
    again = cache.embed_texts(TEXTS, tmp_path, BUNDLED_MODEL, WEIGHTS, "cpu", 8)  # here: nothing to encode
    assert again.run.encoded == 0 and np.array_equal(again.vectors, embedded.vectors)


def test_embed_texts_here_reuses_what_the_cache_holds(tmp_path):
    first = cache.embed_texts(TEXTS[:20], tmp_path, BUNDLED_MODEL, WEIGHTS, "cpu", 8)
    more = cache.embed_texts(TEXTS, tmp_path, BUNDLED_MODEL, WEIGHTS, "cpu", 8)
    assert (first.run.encoded, more.run.encoded, more.run.reused) == (20, 21, 20)
    assert np.array_equal(more.vectors[more.row[:20]], first.vectors[first.row])


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_torch_threads_must_be_a_whole_number_of_at_least_one(bad):
    with pytest.raises(ValueError, match="embed.torch_threads"):
        limit_torch_threads(bad)


def test_torch_threads_set_this_process_and_null_leaves_the_default():
    import torch

    before = torch.get_num_threads()
    try:
        limit_torch_threads(None)
        assert torch.get_num_threads() == before
        limit_torch_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


SHARD_STAGE = '''
import sys
from pathlib import Path

import numpy as np

from reception.models import embedding_cache as cache

texts = [f"text {i}" for i in range(int(sys.argv[1]))]
cache.vectors_for(texts, Path("cache"), "producer", lambda missing: np.ones((len(missing), 4), "float32"))
'''


def test_dvc_push_after_new_texts_uploads_only_their_new_shard(tmp_path):
    """The cache as a persist output of a real DVC stage: a second run adds a shard and `dvc push` sends that
    shard and the folder's new listing, not the shards already on the remote."""
    repo, remote = tmp_path / "repo", tmp_path / "remote"
    repo.mkdir()
    (repo / "make_shards.py").write_text(SHARD_STAGE)
    (repo / "params.yaml").write_text("texts: 30\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"embed": {
        "cmd": "python make_shards.py ${texts}", "deps": ["make_shards.py"], "params": ["texts"],
        "outs": [{"cache": {"persist": True}}]}}}))
    run_command(["git", "init", "-q"], repo)
    run_command(["dvc", "init", "-q"], repo)
    run_command(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    run_command(["dvc", "repro", "-q"], repo)
    assert len(list((repo / "cache").glob("*.parquet"))) == 1
    run_command(["dvc", "push"], repo)
    on_remote = {p for p in remote.rglob("*") if p.is_file()}
    assert len(on_remote) == 2  # the shard and the folder's listing (.dir)
    (repo / "params.yaml").write_text("texts: 50\n")
    run_command(["dvc", "repro", "-q"], repo)
    shards = sorted((repo / "cache").glob("*.parquet"))
    assert len(shards) == 2  # the 30 vectors' shard untouched, the 20 new texts in a new one
    pushed = run_command(["dvc", "push"], repo)
    new = {p for p in remote.rglob("*") if p.is_file()} - on_remote
    assert len(new) == 2, f"expected the new shard and the new listing, got {new}\n{pushed.stdout}"
    assert on_remote <= {p for p in remote.rglob("*") if p.is_file()}
    assert "2 files pushed" in pushed.stdout
