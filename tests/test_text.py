"""The shared cleaning and label rule: the one copy training and serving use."""
import pandas as pd
import pytest

from reception.data.text import clean_text, is_deleted, text_features, well_received_label, well_received_threshold


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Great POST!!", "great post!!"),
        ("> quoted line\n\nmy reply", "quoted line my reply"),  # markdown quote marker goes
        ("https://example.com/a?b=1 www.example.org", ""),  # URLs only
        ("see [this](https://x.y/z) now", "see this now"),  # markdown link keeps its text
        ("I love it 😂🔥", "i love it"),  # emoji are outside the whitelist
        ("¿Qué opinas, señor?", "qu opinas, se or?"),  # IMEDIA's ASCII whitelist drops accents
        ("ｆｕｌｌ－ｗｉｄｔｈ", "full width"),  # NFKC folds compatibility forms first
        ("it’s fine, isn't it?", "it’s fine, isn't it?"),  # both apostrophes are kept
        ("tabs\tand\n\nnewlines   everywhere ", "tabs and newlines everywhere"),
        ("**bold** and `code` #tag @user", "bold and code tag user"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_clean_text_is_idempotent():
    raw = "> Check https://reddit.com NOW!!! ¿Sí? 😀"
    assert clean_text(clean_text(raw)) == clean_text(raw)


@pytest.mark.parametrize("body", ["[deleted]", "[removed]", "  [removed] "])
def test_deleted_bodies(body):
    assert is_deleted(body)


def test_is_deleted_does_not_match_mentions():
    assert not is_deleted("this was [deleted] by a mod")


def test_text_features():
    features = text_features(pd.Series(["Hi!", "what? really?", "plain text here", ""]))
    assert features["text_len"].tolist() == [3, 13, 15, 0]
    assert features["word_count"].tolist() == [1, 2, 3, 0]
    assert features["has_exclamation"].tolist() == [True, False, False, False]
    assert features["has_question"].tolist() == [False, True, False, False]


def test_label_rule_with_negative_scores():
    scores = pd.Series([-5.0, -1.0, 0.0, 3.0, 10.0])
    threshold = well_received_threshold(scores.value_counts())
    assert threshold == 0.0
    assert well_received_label(scores, threshold).tolist() == [0, 0, 1, 1, 1]


def test_label_threshold_counts_ties_as_positive():
    scores = pd.Series([1.0, 5.0, 5.0, 5.0, 9.0])
    assert well_received_label(scores, well_received_threshold(scores.value_counts())).tolist() == [0, 1, 1, 1, 1]
