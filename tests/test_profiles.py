"""Profiles (profiles/*.yaml written into params.yaml by `reception profile`), and what a profile may declare: no
family that reads the embedding (embed encodes nothing), no fine-tuned family."""
import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reception import profiles
from reception.cli import main as reception
from reception.data.features import metadata_features
from reception.data.splits import SPLITS, train_val_embeddings
from reception.data.thread_context import CONTEXT_COLUMNS
from reception.models import encoder
from reception.models.families import declared, feature_matrix
from reception.models.hpo import search_family

REPO = Path(__file__).resolve().parents[1]
PARAMS, PROFILES = REPO / "params.yaml", REPO / "profiles"


def profile(name: str) -> dict:
    return profiles.read_profile(PROFILES / f"{name}.yaml")


def value_at(params: dict, path: str):
    section, key = path.split(".", 1)
    return params[section][key]


@pytest.fixture
def repo(tmp_path) -> Path:
    """params.yaml and the profiles in a folder of their own, with a stand-in for the corpus beside it."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(PARAMS, root / "params.yaml")
    shutil.copytree(PROFILES, root / "profiles")
    source = yaml.safe_load((PROFILES / "corpus.yaml").read_text())["ingest"]["source"]
    (root / source).mkdir(parents=True)
    (root / "data/sample/reddit").mkdir(parents=True)
    return root


def apply_in(root: Path, *args: str) -> int:
    return reception(["profile", *args, "--params", str(root / "params.yaml"), "--profiles", str(root / "profiles")])


def test_every_profile_names_the_same_keys_and_params_yaml_has_them():
    names = profiles.profile_names(PROFILES)
    assert {"sample", "corpus"} <= set(names)
    paths = {name: profiles.key_paths(profile(name)) for name in names}
    assert all(p == paths["sample"] for p in paths.values()), paths
    params = yaml.safe_load(PARAMS.read_text())
    assert all(p.split(".", 1)[1] in params[p.split(".")[0]] for p in paths["sample"])


def test_the_committed_params_yaml_is_the_sample_profile():
    text = PARAMS.read_text()
    assert profiles.apply(text, profile("sample"), "sample") == (text, [])
    assert yaml.safe_load(text)["base"]["profile"] == "sample"


def test_corpus_then_sample_gives_back_params_yaml_byte_for_byte(repo):
    before = (repo / "params.yaml").read_text()
    assert apply_in(repo, "corpus") == 0
    applied = yaml.safe_load((repo / "params.yaml").read_text())
    corpus, original = yaml.safe_load((PROFILES / "corpus.yaml").read_text()), yaml.safe_load(before)
    for path in profiles.key_paths(corpus):  # each value replaced whole, a mapping too
        assert value_at(applied, path) == value_at(corpus, path), path
    assert applied["base"]["profile"] == "corpus"
    untouched = [f"{s}.{k}" for s, keys in original.items() for k in keys
                 if f"{s}.{k}" not in profiles.key_paths(corpus) and f"{s}.{k}" != "base.profile"]
    assert all(value_at(applied, p) == value_at(original, p) for p in untouched)
    assert "# TF-IDF + logistic regression" in (repo / "params.yaml").read_text()  # comments stay
    assert apply_in(repo, "sample") == 0
    assert (repo / "params.yaml").read_text() == before


def test_the_applied_families_are_the_corpus_profiles(repo):
    assert apply_in(repo, "corpus") == 0
    families = declared(repo / "params.yaml")
    assert {name: f.stage for name, f in families.items()} == {
        name: stage for stage, group in yaml.safe_load((PROFILES / "corpus.yaml").read_text())["families"].items()
        for name in group}
    assert not [f for f in families.values() if f.stage == "finetune"]


def test_a_key_params_yaml_lacks_is_refused_and_nothing_is_written(repo, capsys):
    before = (repo / "params.yaml").read_text()
    (repo / "profiles/typo.yaml").write_text("hpo:\n  max_eval: 10\nsplit:\n  strategy: thread\n")
    assert apply_in(repo, "typo") == 2
    assert "params.yaml has no hpo.max_eval" in capsys.readouterr().err
    (repo / "profiles/typo.yaml").write_text("hpo: 10\n")
    assert apply_in(repo, "typo") == 2
    assert apply_in(repo, "nonexistent") == 2
    assert (repo / "params.yaml").read_text() == before


def test_a_profile_whose_data_is_missing_is_refused(repo, capsys):
    before = (repo / "params.yaml").read_text()
    shutil.rmtree(repo / yaml.safe_load((PROFILES / "corpus.yaml").read_text())["ingest"]["source"])
    assert apply_in(repo, "corpus") == 2
    assert "its data is missing" in capsys.readouterr().err
    assert (repo / "params.yaml").read_text() == before


def test_without_a_name_it_says_which_profile_and_what_was_edited_since(repo, capsys):
    assert apply_in(repo) == 0
    assert capsys.readouterr().out.strip() == "params.yaml: profile sample"
    text = (repo / "params.yaml").read_text().replace("max_evals: 20", "max_evals: 40")
    (repo / "params.yaml").write_text(text)
    assert apply_in(repo) == 0
    assert capsys.readouterr().out.strip() == "params.yaml: profile sample, edited since: hpo.max_evals"


def without_embedding_families(root: Path) -> None:
    """A repository folder whose params declare no family that reads the embedding, and no fine-tuned family;
    its processed splits hold a few rows."""
    params = yaml.safe_load(PARAMS.read_text())
    params["families"] = {"baselines": {"timing": {"reads": ["metadata"]}}, "train": {}, "finetune": {}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data/processed").mkdir(parents=True)
    for rows, split in zip((5, 2, 3), SPLITS, strict=True):
        pd.DataFrame({"comment_id": [f"{split}{i}" for i in range(rows)]}).to_parquet(
            root / f"data/processed/{split}.parquet")


def test_embed_encodes_nothing_when_no_family_reads_the_embedding(tmp_path, monkeypatch):
    without_embedding_families(tmp_path)
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the encoder was loaded")

    monkeypatch.setattr(encoder, "load_encoder", refuse)
    runpy.run_path(str(REPO / "stages/embed.py"), run_name="__main__")
    metadata = json.loads(Path("data/embeddings/metadata.json").read_text())
    assert metadata["dimension"] == 0 and metadata["rows"] == {"train": 5, "val": 2, "test": 3}
    assert "no declared family reads the embedding" in metadata["not_encoded"]
    embeddings = train_val_embeddings().rows(np.arange(7))
    assert embeddings.shape == (7, 0) and embeddings.dtype == np.float32
    frame = pd.DataFrame({"created_utc": np.arange(7) * 600.0, "thread_start_utc": 0.0, "text_len": np.arange(7) + 3,
                          "word_count": 2, "has_exclamation": False, "has_question": True, "is_top_level": True,
                          **dict.fromkeys(CONTEXT_COLUMNS, 1.0)})
    assert np.array_equal(feature_matrix(True, embeddings, frame), metadata_features(frame))  # metadata alone


def test_hpo_of_a_family_that_reads_the_embedding_stops_on_empty_embeddings():
    hybrid = declared(PARAMS)["hybrid"]
    frame = pd.DataFrame({"well_received": [0, 1, 0, 1]})
    with pytest.raises(SystemExit, match="dvc repro --force --single-item embed"):
        search_family(hybrid, (frame, np.zeros((4, 0), "float32"), np.array([True] * 4)), 2, 0, None,
                      Path("unused.json"))


def test_finetune_without_a_declared_family_writes_an_empty_status(tmp_path, monkeypatch):
    without_embedding_families(tmp_path)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(REPO / "stages/finetune.py"), run_name="__main__")
    assert json.loads(Path("data/predictions/finetune/status.json").read_text()) == {}
    assert Path("models/finetune").is_dir()
