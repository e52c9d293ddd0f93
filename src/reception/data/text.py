"""What training and serving must agree on: text normalisation, cleaning, text features, label rule.

This is the only copy of the cleaning code. The interim stage builds `clean_text` with it and the
service applies it to raw requests, so a comment gets the same model input in both places.
"""
from __future__ import annotations

import re
import unicodedata

import pandas as pd

from reception.data.counted_quantiles import median

DELETED_BODIES = frozenset({"[deleted]", "[removed]"})

_URL = re.compile(r"(?:https?://|www\.)\S+", flags=re.IGNORECASE)
# IMEDIA's whitelist: anything else (accents, emoji, markdown symbols) becomes a space.
_OUTSIDE_WHITELIST = re.compile(r"[^a-zA-Z0-9?!.,'’ ]")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC-normalise a raw body, so that full-width and compatibility characters compare equal."""
    return unicodedata.normalize("NFKC", text)


def clean_text(text: str) -> str:
    """Model input for a raw comment: NFKC, lower-case, URLs removed, IMEDIA's whitelist, spaces collapsed.

    Idempotent, so applying it to an already normalised body gives the same result.
    """
    text = normalize(text).lower()
    text = _URL.sub(" ", text)
    text = _OUTSIDE_WHITELIST.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def is_deleted(body: str) -> bool:
    return body.strip() in DELETED_BODIES


def text_features(text: pd.Series) -> pd.DataFrame:
    """IMEDIA's length and punctuation features of (normalised) bodies."""
    return pd.DataFrame(
        {
            "text_len": text.str.len().astype("int64"),
            "word_count": text.str.split().str.len().fillna(0).astype("int64"),
            "has_exclamation": text.str.contains("!", regex=False),
            "has_question": text.str.contains("?", regex=False),
        },
        index=text.index,
    )


def well_received_threshold(score_clipped_counts: pd.Series) -> float:
    """IMEDIA's label threshold: the median of the winsorised score, exactly (np.median's value), from its
    value counts (score_clipped -> rows): a table too large to hold in one process gives them too."""
    return median(score_clipped_counts)


def well_received_label(score_clipped: pd.Series, threshold: float) -> pd.Series:
    """1 = well received (score at or above the threshold), 0 otherwise."""
    return (score_clipped >= threshold).astype("int64")
