"""The daily refresh, end to end: three extracts a (simulated) day apart, each versioned and rebuilt.

The stand-in serves the 15 shared threads as three batches of five, a day apart (every score one higher
each day; on the last day one comment of the first day has been deleted). After each extract the
source folder is `dvc add`ed and `dvc repro register` rebuilds the data and the models in a repo copy, as
docs/refreshing-data.md tells a user to, on a small profile (one Hyperopt trial, 3 thread folds, one
trained family, the baselines the pipeline needs, and a tiny randomly initialised sentence encoder with
all-MiniLM-L6-v2's tokenizer in place of all-MiniLM-L6-v2, which the model tests cover: embedding every
comment three times with it would take minutes). The first winner takes the champion alias; each later
winner meets the alias holder on the threads that arrived since the holder was trained. Then the same
data is split forward in time.
"""
import hashlib
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SAMPLE_RAW, SMALL_FINETUNE, SMALL_FOLDS, copy_repo, run, set_params
from reception import paths
from reception.data.pseudonyms import AUTHOR_KEY_VAR
from reception.data.raw_records import SCHEMAS, kept_records
from reception.models.encoder import WEIGHTS_FILE, bundled_model_dir, sha256_file
from reception.paths import SOURCE_DIR
from reddit_standin import RedditStandIn, extract

pytestmark = pytest.mark.integration
DAYS = 3
# A refresh through `register` in little time. SMALL_FOLDS (3) thread folds: the fewest that nested search and
# per-fold calibration take, and no more than the 5 threads of the first day. Fine-tuning: skipped without a GPU.
SMALL_REFRESH = {"hpo": {"max_evals": 1}, "split": {"thread_cv_folds": SMALL_FOLDS},
                 "finetune": {**SMALL_FINETUNE, "device": "auto"}}


def sha256s(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def tiny_encoder(folder: Path) -> dict:
    """A sentence-transformers folder: all-MiniLM-L6-v2's tokenizer, one randomly initialised (seeded) BERT
    layer of width 32, mean pooling, normalisation; returns the `encoder` params that select it."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    checkpoint = folder / "checkpoint"
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_dir())
    tokenizer.save_pretrained(checkpoint)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(checkpoint)
    modules = [Transformer(str(checkpoint), max_seq_length=128), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules).save(str(folder / "encoder"))
    return {"model": str(folder / "encoder"), "sha256": sha256_file(folder / "encoder" / WEIGHTS_FILE)}


def small_refresh(repo, encoder: dict) -> None:
    """SMALL_REFRESH, the tiny encoder, the hybrid family alone with one nested trial, and the baselines
    that register needs (majority, and tfidf_logreg, the served text model, on a smaller vocabulary)."""
    families = yaml.safe_load((repo / "params.yaml").read_text())["families"]
    hybrid = {**families["train"]["hybrid"], "nested_evals": 1}
    baselines = {"majority": families["baselines"]["majority"],
                 "tfidf_logreg": {**families["baselines"]["tfidf_logreg"], "max_features": 2000, "ngram_max": 1}}
    set_params(repo, **SMALL_REFRESH, encoder=encoder, families={"baselines": baselines, "train": {"hybrid": hybrid}})


def test_three_daily_batches_append_and_rebuild(tmp_path, pipeline_env):
    pipeline_env = {**pipeline_env, AUTHOR_KEY_VAR: "test-key-" + "0" * 32}  # extracted data: bronze needs a key
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ingest={"source": str(SOURCE_DIR)})
    small_refresh(repo, tiny_encoder(tmp_path / "tiny_encoder"))
    run(["git", "commit", "-qam", "ingest from the extracted source, small refresh"], repo)
    source = repo / SOURCE_DIR
    with RedditStandIn(SAMPLE_RAW) as standin:
        threads = standin.thread_ids()
        sample_scores = {c["comment_id"]: c["score"] for rows in standin.comments.values() for c in rows}
        earlier, lines_read, decisions, holder_day = {}, 0, [], None
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
            run(["dvc", "repro", "register"], repo, env=pipeline_env)

            expected = {cid for pid in published for cid in (c["comment_id"] for c in standin.comments[pid])}
            lines_read += len(expected)
            ingest = json.loads((repo / "metrics/ingest.json").read_text())["comments"]
            assert ingest["lines_read"] == lines_read
            assert ingest["kept"] == len(expected) and ingest["quarantined"] == 0
            assert ingest["duplicates"] == lines_read - len(expected)
            manifests = [json.loads(p.read_text()) for p in sorted((source / "manifests").glob("*.json"))]
            assert sum(m["rows"]["comments"] for m in manifests) == lines_read  # every batch's comments, counted
            kept = list(kept_records(repo / paths.RAW_DIR, "comments"))
            assert {c["comment_id"] for c in kept} == expected
            # the latest observation wins: every kept score is today's
            assert Counter(c["score"] - sample_scores[c["comment_id"]] for c in kept) == {day: len(expected)}
            data = json.loads((repo / "metrics/data.json").read_text())
            flow = data["comments"]
            assert flow["kept"] == len(expected) and flow["dropped_immature"] == 0  # read months after writing
            assert flow["labelled"] == sum(data["split"][s]["rows"] for s in ("train", "val", "test"))
            assert json.loads((repo / "metrics/silver.json").read_text())["threads"] == len(published)

            # The forward-in-time check: the newest threads, scored by fits on the older ones.
            forward = json.loads((repo / "metrics/forward.json").read_text())
            assert forward["fit"]["thread_start_utc"][1] < forward["test"]["thread_start_utc"][0]
            assert forward["fit"]["rows"] + forward["test"]["rows"] == flow["labelled"]
            assert set(forward["test_threads"]) <= set(published) and "hybrid" in forward["families"]
            assert "## Forward in time" in (repo / "metrics/comparison.md").read_text()

            # The champion decision.
            decision = json.loads((repo / paths.REGISTER_METRICS).read_text())
            decisions.append(decision)
            print(f"day {day}: version {decision['version']}, alias set: {decision['alias_set']}: {decision['reason']}")
            labelled = {s: pd.read_parquet(repo / paths.split_file(s)) for s in ("train", "val", "test")}
            train_val = pd.concat([labelled["train"], labelled["val"]])
            if holder_day is None:  # the first winner takes the alias
                assert decision["alias_set"] and decision["holder"]["version"] is None, decision
            else:
                # Both scored on the threads served since the holder's day that survived interim, and only those.
                held = decisions[holder_day]
                survived = set(pd.concat(labelled.values())["post_id"])
                new = set(threads[5 * (holder_day + 1): len(published)]) & survived
                shared = decision["holder"]["comparison"]
                assert decision["holder"]["version"] == held["version"] and shared is not None, decision
                assert set(shared["threads"]) == new and len(new) >= 5
                assert shared["rows"] == train_val["post_id"].isin(new).sum()
                scores = (shared["challenger_roc_auc"], shared["holder_roc_auc"])
                assert all(0 <= score <= 1 for score in scores)
                assert f"on the same {shared['rows']} comments of {len(new)} threads" in decision["reason"]
                assert all(str(score) in decision["reason"] for score in scores)
                assert scores[0] >= scores[1] or not decision["alias_set"]  # never a weaker challenger
            if decision["alias_set"]:
                holder_day = day

    # What its writer took back is gone from every derived layer, the audit trail included; the source
    # keeps it until `reception prune`. No author name is left beyond raw.
    for path in (repo / paths.RAW_DIR).glob("*.ndjson"):
        assert deleted["body"] not in path.read_text(), path.name
    for entity in SCHEMAS:
        kept = kept_records(repo / paths.RAW_DIR, entity)
        assert not any(deleted["body"] in json.dumps(r, ensure_ascii=False) for r in kept), entity
    interim = pd.read_parquet(repo / paths.LIVE_COMMENTS)
    assert deleted["comment_id"] not in set(interim["comment_id"])
    authors = set(pd.read_parquet(repo / paths.silver_table("dim_author"))["author"])
    assert all(a.startswith("u_") for a in authors) and deleted["author"] not in authors

    set_params(repo, split={"strategy": "time"})
    run(["dvc", "repro", "processed"], repo)
    split = json.loads((repo / "metrics/data.json").read_text())["split"]
    assert split["train"]["thread_start_utc"][1] < split["val"]["thread_start_utc"][0]
    assert split["val"]["thread_start_utc"][1] < split["test"]["thread_start_utc"][0]
    assert sum(split[s]["threads"] for s in ("train", "val", "test")) == len(threads)
