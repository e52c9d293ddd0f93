"""params.yaml, read once per process: every stage, the service and the CLI take their settings here."""
from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from reception.paths import PARAMS_FILE


@cache
def _parsed(path: Path, mtime_ns: int) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def all_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The whole file, re-read only when it changed (the cache key holds its modification time)."""
    path = Path(path)
    return copy.deepcopy(_parsed(path.resolve(), path.stat().st_mtime_ns))


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The stage's own section of params.yaml (empty for a stage without params), plus `base`."""
    params = all_params(path)
    return {**(params.get(section) or {}), "base": params.get("base", {})}
