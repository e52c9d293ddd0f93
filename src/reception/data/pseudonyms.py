"""Author names stop at raw: from bronze on, `author` is a keyed hash (HMAC-SHA256) of the name.

The same name gives the same pseudonym, so per-author counts still work, but a name cannot be looked up
without the key. The key comes from the environment (AUTHOR_KEY_VAR); without it a public development key
is used, fit only for the public sample, and metrics/bronze.json says so.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sys

import pandas as pd

AUTHOR_KEY_VAR = "RECEPTION_AUTHOR_KEY"
DEVELOPMENT_KEY = "reception-public-development-key"
PSEUDONYM_HEX_CHARS = 16  # 64 bits: no collision expected among millions of authors


def author_key() -> tuple[bytes, str]:
    """The pseudonymisation key, and where it came from (for the metrics; never the key itself)."""
    key = os.environ.get(AUTHOR_KEY_VAR)
    if key:
        return key.encode(), AUTHOR_KEY_VAR
    print(f"bronze: {AUTHOR_KEY_VAR} is not set: authors are pseudonymised with the public development key "
          "(fine for the public sample, not for data you extract)", file=sys.stderr)
    return DEVELOPMENT_KEY.encode(), "public development key"


def pseudonymise(authors: pd.Series, key: bytes) -> pd.Series:
    """Each name -> 'u_' + its keyed hash; a missing author stays missing."""
    def pseudonym(name: str) -> str:
        return "u_" + hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]
    return authors.map(pseudonym, na_action="ignore")
