"""Writing a stage's outputs: a fresh folder for each run, JSON that diffs cleanly in git."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


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
