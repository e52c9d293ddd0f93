"""Small helpers every stage uses: its params, a fresh output folder, JSON out."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path("params.yaml")


def load_params(section: str, path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The stage's own section of params.yaml (empty for a stage without params), plus `base`."""
    params = yaml.safe_load(path.read_text())
    return {**(params.get(section) or {}), "base": params.get("base", {})}


def fresh_dir(path: str | Path) -> Path:
    """Empty (or create) a stage's output folder: each run rewrites it completely."""
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def write_json(path: str | Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
