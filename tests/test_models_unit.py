"""Zero-shot loading and label mapping (tiny BERT built here), encoder hash check, metrics, alias rule, the TF-IDF
baseline's kept fit."""
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

from reception.models import finetuned
from reception.models.baselines import score_baseline
from reception.models.champion import alias_decision, pick_winner
from reception.models.encoder import (
    BUNDLED_MODEL,
    EncoderMismatch,
    WeightsMismatch,
    bundled_model_dir,
    resolve_model_dir,
    verify_weights,
)
from reception.models.evaluation import classification_metrics
from reception.models.families import declared
from reception.models.zero_shot import ModelUnavailable, ZeroShotClassifier
from reception.paths import PARAMS_FILE

WORDS = ["great", "post", "terrible", "idea", "thanks", "no", "why", "this", "is", "a"]
SHA256 = yaml.safe_load(PARAMS_FILE.read_text())["encoder"]["sha256"]


def tiny_bert(path, num_labels: int):
    """A real (randomly initialised) BERT checkpoint on disk, the way a hub checkpoint is laid out."""
    vocab = path / "vocab.txt"
    path.mkdir(parents=True, exist_ok=True)
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(WORDS) + 5, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(path)
    return model, BertTokenizerFast.from_pretrained(path)


@pytest.mark.parametrize(("num_labels", "positive"), [(5, [3, 4]), (2, [1])])
def test_zero_shot_loads_by_path_and_maps_positive_classes(tmp_path, num_labels, positive):
    model, tokenizer = tiny_bert(tmp_path / "ckpt", num_labels)
    texts = ["great post", "terrible idea why", "thanks", "no"]
    classifier = ZeroShotClassifier(str(tmp_path / "ckpt"), positive, max_length=8, batch_size=3)
    scores = classifier.predict_proba(texts)

    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, truncation=True, max_length=8, return_tensors="pt")).logits
    expected = torch.softmax(logits, dim=-1)[:, positive].sum(dim=-1).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert ((0 <= scores) & (scores <= 1)).all()


def test_zero_shot_rejects_labels_outside_the_head(tmp_path):
    tiny_bert(tmp_path / "ckpt", 2)
    with pytest.raises(ValueError, match="do not fit the 2 classes"):
        ZeroShotClassifier(str(tmp_path / "ckpt"), [3, 4])


def test_zero_shot_unavailable_says_which_and_why(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="could not be loaded") as error:
        ZeroShotClassifier(str(tmp_path / "empty"), [1])
    assert str(tmp_path / "empty") in str(error.value)


def test_bundled_encoder_has_the_expected_weights():
    assert resolve_model_dir(BUNDLED_MODEL) == bundled_model_dir()
    assert verify_weights(bundled_model_dir(), SHA256) == SHA256


def test_encoder_hash_mismatch_fails_clearly(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not the real weights")
    with pytest.raises(EncoderMismatch, match="expected 53aa5117"):
        verify_weights(tmp_path, SHA256)
    with pytest.raises(EncoderMismatch, match="neither the bundled"):
        resolve_model_dir(str(tmp_path / "nowhere"))


def test_always_positive_scores_f1_but_no_auc():
    y = np.array([1, 1, 1, 0, 0, 1, 0, 1])
    m = classification_metrics(y, np.ones(len(y)))
    assert m["roc_auc"] == 0.5 and m["mcc"] == 0.0 and m["predicted_positive_share"] == 1.0
    assert m["f1"] == pytest.approx(2 * 0.625 / 1.625)
    perfect = classification_metrics(y, y * 0.8 + 0.1)
    assert perfect["f1"] == perfect["roc_auc"] == perfect["accuracy"] == 1.0


def rows(hybrid_auc, best_baseline_auc, val_share=0.6, cv_share=0.55):
    """Comparison rows as evaluate writes them; each trained family's paired difference to each baseline is
    its lead on the deciding metric, with an interval 0.05 either side."""
    baselines = {"majority": 0.5, "tfidf_logreg": best_baseline_auc}

    def row(family, kind, auc, val, cv):
        found = {"family": family, "kind": kind, "status": "ok", "thread_cv_roc_auc_mean": auc,
                 "val_predicted_positive_share": val, "thread_cv_predicted_positive_share": cv}
        if kind == "trained":
            found["paired_differences"] = {
                name: {"difference": auc - theirs, "low": auc - theirs - 0.05, "high": auc - theirs + 0.05,
                       "level": 0.95, "resamples": 1000} for name, theirs in baselines.items()}
        return found
    return [
        row("hybrid", "trained", hybrid_auc, val_share, cv_share),
        row("mlp_transformer", "trained", 0.55, 0.5, 0.5),
        row("majority", "baseline", 0.5, 1.0, 1.0),
        row("tfidf_logreg", "baseline", best_baseline_auc, 0.5, 0.5),
        {"family": "bert_nlptown", "kind": "baseline", "status": "unavailable", "reason": "offline"},
    ]


def test_alias_set_only_when_every_baseline_is_beaten_on_unseen_threads():
    table = rows(0.76, 0.58)
    assert pick_winner(table)["family"] == "hybrid"
    assert alias_decision(table, table[0])[0] is True
    table = rows(0.57, 0.58)
    ok, reason = alias_decision(table, pick_winner(table))
    assert not ok and "does not beat tfidf_logreg" in reason


@pytest.mark.parametrize(("val_share", "cv_share", "where"), [(1.0, 0.5, "val"), (0.5, 0.02, "thread_cv")])
def test_a_single_class_predictor_neither_wins_nor_takes_the_alias(val_share, cv_share, where):
    table = rows(0.9, 0.58, val_share=val_share, cv_share=cv_share)
    assert pick_winner(table)["family"] == "mlp_transformer"  # the eligible family, despite a lower AUC
    ok, reason = alias_decision(table, table[0])
    assert not ok and f"of {where} comments (a single class)" in reason


def test_alias_not_taken_from_a_stronger_current_champion():
    table = rows(0.76, 0.58)
    ok, reason = alias_decision(table, table[0], {"version": "3", "metric": 0.78})
    assert not ok and "below the current champion (version 3" in reason
    assert alias_decision(table, table[0], {"version": "3", "metric": 0.75})[0] is True
    assert alias_decision(table, table[0], {"version": "2", "metric": float("nan")})[0] is True  # older rule


def test_finetuned_model_round_trips_and_refuses_changed_weights(tmp_path):
    tiny_bert(tmp_path / "encoder", 2)
    model, tokenizer = finetuned.from_encoder(tmp_path / "encoder", "cpu")
    texts = ["great post thanks", "no", "why is this a terrible idea", "great"]
    before = finetuned.predict_proba(model, tokenizer, texts, max_length=8, batch_size=2)
    digest = finetuned.save(model, tokenizer, tmp_path / "saved", max_length=8)

    loaded, loaded_tokenizer, max_length = finetuned.load(tmp_path / "saved", "cpu")
    assert max_length == 8
    np.testing.assert_allclose(finetuned.predict_proba(loaded, loaded_tokenizer, texts, max_length), before, atol=1e-6)
    assert ((0 < before) & (before < 1)).all() and loaded.platt is None

    # its Platt calibration travels with it, and scoring applies it (one function for training and serving)
    model.platt = (2.0, -0.5)
    calibrated = finetuned.predict_proba(model, tokenizer, texts, max_length=8, batch_size=2)
    np.testing.assert_allclose(calibrated, 1 / (1 + np.exp(-(2.0 * np.log(before / (1 - before)) - 0.5))), atol=1e-6)
    finetuned.save(model, tokenizer, tmp_path / "calibrated", max_length=8)
    loaded, loaded_tokenizer, _ = finetuned.load(tmp_path / "calibrated", "cpu")
    assert loaded.platt == (2.0, -0.5)
    np.testing.assert_allclose(finetuned.predict_proba(loaded, loaded_tokenizer, texts, 8), calibrated, atol=1e-6)

    weights = tmp_path / "saved" / finetuned.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(WeightsMismatch, match=f"expected {digest}"):
        finetuned.load(tmp_path / "saved", "cpu")


def test_the_tfidf_baseline_keeps_its_fit_on_train_and_reports_each_thread_fold(capsys):
    rng = np.random.default_rng(0)

    def comments(n: int, folds: bool) -> pd.DataFrame:
        y = rng.integers(0, 2, n)
        frame = pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)], "well_received": y,
                              "clean_text": [f"{'great thanks' if v else 'terrible no'} {WORDS[i % 10]}"
                                             for i, v in enumerate(y)]})
        return frame.assign(fold=np.arange(n) % 3) if folds else frame

    splits = {"train": comments(60, False), "val": comments(20, False), "test": comments(20, False)}
    family = declared()["tfidf_logreg"]
    predictions, fitted = score_baseline(family, {"base": {"seed": 0}}, splits, comments(90, True))
    assert predictions.groupby("split").size().to_dict() == {"test": 20, "thread_cv": 90, "val": 20}
    # the kept model is the fit that scored val and test: the service serves what was measured
    val = predictions[predictions["split"] == "val"]["score"].to_numpy()
    np.testing.assert_array_equal(fitted.model.predict_proba(splits["val"]["clean_text"])[:, 1], val)
    assert "baselines tfidf_logreg thread CV: 3/3 thread folds" in capsys.readouterr().err
