"""The real `dvc repro` of the data stages, in a temporary copy of the repo, on the sample."""
import json

import pandas as pd
import pytest
import yaml

from conftest import REPO, copy_repo, run, set_params

pytestmark = pytest.mark.integration
DATA_STAGES = ["ingest", "bronze", "silver", "interim", "processed", "eda"]
SPLIT_COLUMNS = {"comment_id", "post_id", "clean_text", "score_clipped", "text_len_clipped", "word_count",
                 "has_exclamation", "has_question", "created_dt", "is_submitter", "well_received"}


def load_splits(repo):
    return {s: pd.read_parquet(repo / f"data/processed/{s}.parquet") for s in ("train", "val", "test")}


def test_every_raw_line_is_accounted_for(data_repo, sample_raw):
    lines_on_disk = sum(len(p.read_bytes().splitlines()) for p in sample_raw.glob("*/*.ndjson"))
    ingest = json.loads((data_repo / "metrics/ingest.json").read_text())
    total = ingest["total"]
    assert total["lines_read"] == lines_on_disk
    assert total["lines_read"] == total["kept"] + total["duplicates"] + total["quarantined"]
    data = json.loads((data_repo / "metrics/data.json").read_text())
    assert data["raw_lines"] == total
    flow = data["comments"]
    assert flow["kept"] == flow["raw_lines"] - flow["quarantined"] - flow["duplicates"]
    labelled = (flow["kept"] - flow["dropped_immature"] - flow["dropped_deleted"] - flow["dropped_short_text"]
                - flow["dropped_short_clean_text"])
    assert labelled == flow["labelled"] == sum(len(s) for s in load_splits(data_repo).values())


def test_splits_are_disjoint_complete_and_follow_the_label_rule(data_repo):
    splits = load_splits(data_repo)
    interim = pd.read_parquet(data_repo / "data/interim/comments_clean_text")
    ids = [set(s["comment_id"]) for s in splits.values()]
    assert sum(map(len, ids)) == len(set().union(*ids)) == len(interim)
    data = json.loads((data_repo / "metrics/data.json").read_text())
    threshold = data["label"]["threshold"]
    assert threshold == interim["score_clipped"].median()
    for name, split in splits.items():
        assert SPLIT_COLUMNS <= set(split.columns), name
        assert (split["well_received"] == (split["score_clipped"] >= threshold)).all()
        assert data["split"][name]["rows"] == len(split)
    sizes = [len(splits[s]) / len(interim) for s in ("train", "val", "test")]
    assert sizes == pytest.approx([0.70, 0.15, 0.15], abs=0.01)


def test_bronze_is_partitioned_by_utc_date(data_repo):
    parts = sorted((data_repo / "data/bronze/reddit/comments").glob("YYYY=*/MM=*/DD=*/*.parquet"))
    assert parts
    frame = pd.read_parquet(parts[0])
    year, month, day = (p.split("=")[1] for p in parts[0].parts[-4:-1])
    assert set(frame["created_dt"].dt.strftime("%Y-%m-%d")) == {f"{year}-{month}-{day}"}


def test_second_repro_is_a_no_op(data_repo):
    result = run(["dvc", "repro", "eda"], data_repo)
    assert "Running stage" not in result.stdout
    assert "didn't change" in result.stdout or "up to date" in result.stdout
    status = run(["dvc", "status", *DATA_STAGES], data_repo)
    assert "up to date" in status.stdout


def test_data_stages_reproduce_the_committed_lock(data_repo):
    """Same inputs, same params: the hashes match the committed dvc.lock (the pipeline is deterministic)."""
    ours = yaml.safe_load((data_repo / "dvc.lock").read_text())["stages"]
    committed = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    for stage in DATA_STAGES:
        assert ours[stage]["outs"] == committed[stage]["outs"], stage


def test_plots_show_writes_the_eda_page(data_repo):
    run(["dvc", "plots", "show", "-o", "eda_page"], data_repo)
    page = (data_repo / "eda_page" / "index.html").read_text()
    for title in ("Score (winsorised) distribution", "Correlation of the numeric columns",
                  "Median score per thread", "by label"):
        assert title in page


def test_thread_strategy_leaks_no_thread(tmp_path, sample_raw):
    repo = copy_repo(tmp_path)
    set_params(repo, split={"strategy": "thread"})
    run(["dvc", "repro", "processed"], repo)
    threads = [set(s["post_id"]) for s in load_splits(repo).values()]
    assert threads[0].isdisjoint(threads[1]) and threads[0].isdisjoint(threads[2]) and threads[1].isdisjoint(threads[2])
    assert json.loads((repo / "metrics/data.json").read_text())["split"]["strategy"] == "thread"


def test_the_data_stages_run_on_a_slice_of_the_corpus_dump_files(tmp_path, corpus_dir):
    """Dump files as the source, filtered by params to a few hundred threads of two subreddits."""
    source = tmp_path / "dumps"
    source.mkdir()
    for name in ("CollegeRant_comments.zst", "CollegeRant_submissions.zst", "GradSchool_comments.zst",
                 "GradSchool_submissions.zst", "College_comments.zst"):
        (source / name).symlink_to(corpus_dir / name)
    repo = copy_repo(tmp_path / "repo")
    set_params(repo, ingest={"source": str(source), "subreddits": ["CollegeRant", "gradschool"],
                             "since": "2021-10-01", "until": None})
    run(["dvc", "repro", "processed"], repo)
    ingest = json.loads((repo / "metrics/ingest.json").read_text())
    comments = ingest["comments"]
    assert comments["dump_files_skipped"] == 1 and comments["out_of_scope"] > comments["kept"] > 1000
    total = ingest["total"]
    assert total["lines_read"] == total["kept"] + total["duplicates"] + total["quarantined"] + total["out_of_scope"]
    splits = load_splits(repo)
    labelled = pd.concat(splits.values())
    assert 200 < labelled["post_id"].nunique() < 1000
    assert (labelled["created_dt"] >= pd.Timestamp("2021-10-01", tz="UTC")).all()
    assert 0.2 < labelled["well_received"].mean() < 0.9
