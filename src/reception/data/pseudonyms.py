"""Author names stop at raw: from bronze on, `author` is a keyed hash (HMAC-SHA256) of the name.

The same name gives the same pseudonym, so per-author counts still work, but a name cannot be looked up
without the key; a deleted account (GONE_ACCOUNT) has none: it is missing. The key comes from the environment
(AUTHOR_KEY_VAR), and privacy fails closed: without it bronze refuses to run, unless every file ingest read is
public data whose authors are already pseudonyms (PUBLIC_SOURCES lists those files by path and sha256: the
shipped sample and the college corpus). Only then is the public development key used: it hashes pseudonyms,
not names, so nothing is left to hide.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

import pandas as pd

from reception.paths import PUBLIC_SOURCES

AUTHOR_KEY_VAR = "RECEPTION_AUTHOR_KEY"
DEVELOPMENT_KEY = "reception-public-development-key"
# What Reddit writes as the author of a comment whose account is gone: nobody in particular (tens of thousands
# of comments in the corpus), so no pseudonym: one would make them all one author to the conversation features.
GONE_ACCOUNT = "[deleted]"
PSEUDONYM_HEX_CHARS = 16  # 64 bits: no collision expected among millions of authors
# A shorter key could be guessed: whoever knows one name and its pseudonym can try keys offline.
MIN_KEY_CHARS = 32
HOW_TO_SET = (f"generate one once, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`, keep it in an "
              f"env file only you can read (chmod 600) as `export {AUTHOR_KEY_VAR}=<key>`, source it before "
              f"`dvc repro` and keep it: another key gives other pseudonyms (docs/refreshing-data.md)")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def unlisted_files(source: Path, files: list[Path], manifest: Path = PUBLIC_SOURCES) -> list[str]:
    """The files (paths relative to `source`) whose path and sha256 the manifest of public, already
    pseudonymised files does not list."""
    listed = json.loads(manifest.read_text())["files"]
    rels = [path.relative_to(source).as_posix() for path in files]
    return [rel for rel, path in zip(rels, files, strict=True) if listed.get(rel) != _sha256(path)]


def author_key(source: Path, files: list[Path], manifest: Path = PUBLIC_SOURCES) -> tuple[bytes, str]:
    """The pseudonymisation key, and where it came from (for the metrics; never the key itself).

    `files`: what ingest read under `source` (ingest.source). Without AUTHOR_KEY_VAR, SystemExit unless
    they are all listed in the manifest of public files; a key shorter than MIN_KEY_CHARS is refused."""
    key = os.environ.get(AUTHOR_KEY_VAR)
    if key:
        if len(key) < MIN_KEY_CHARS:
            raise SystemExit(f"bronze: {AUTHOR_KEY_VAR} has {len(key)} characters, fewer than {MIN_KEY_CHARS}: "
                             f"a short key can be guessed from one known name. {HOW_TO_SET}")
        return key.encode(), AUTHOR_KEY_VAR
    unlisted = unlisted_files(source, files, manifest) if files else None
    if unlisted is None or unlisted:
        which = (f"no file to read in ingest.source '{source}'" if unlisted is None else
                 f"{len(unlisted)} of the {len(files)} files of ingest.source '{source}' (e.g. {unlisted[0]}) are "
                 f"not public data with pseudonymised authors listed in {manifest}")
        raise SystemExit(f"bronze: {AUTHOR_KEY_VAR} is not set and {which}, so author names would be hashed "
                         f"with a public key anyone can reverse. Set the key: {HOW_TO_SET}. Nothing was written.")
    print(f"bronze: {AUTHOR_KEY_VAR} is not set: every file of '{source}' is public data whose authors are already "
          f"pseudonyms ({manifest}), hashed again with the public development key", file=sys.stderr)
    return DEVELOPMENT_KEY.encode(), "public development key"


def pseudonym(name: str | None, key: bytes) -> str | None:
    """'u_' + the name's keyed hash; None for a missing author or a deleted account (GONE_ACCOUNT)."""
    if not isinstance(name, str) or name == GONE_ACCOUNT:
        return None
    return "u_" + hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]


def pseudonymise(authors: pd.Series, key: bytes) -> pd.Series:
    """Each name -> its pseudonym; a missing author or a deleted account is missing."""
    return authors.map(lambda name: pseudonym(name, key), na_action="ignore").astype(object)
