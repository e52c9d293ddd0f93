"""bento: import the locked champion into the BentoML model store and build the service's bento.

The model tag is `reddit-reception:<md5 of models/champion in dvc.lock>`; the bento's version is a hash
of that tag and every file the bento includes, so an unchanged champion and service build nothing new.
The store is BentoML's own (BENTOML_HOME, default ~/bentoml).
Writes models/bento.json: bento tag, model tag, champion hash.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from reception.io import load_params, write_json
from reception.paths import BENTO_FILE, CHAMPION_DIR, LOCK_FILE
SERVICE = "service.service:RedditReception"
INCLUDE = ["service/service.py", "service/ui.html", "params.yaml"]


def locked_champion_md5() -> str:
    outs = yaml.safe_load(LOCK_FILE.read_text())["stages"]["register"]["outs"]
    return next(o["md5"] for o in outs if o["path"] == str(CHAMPION_DIR)).removesuffix(".dir")


def content_version(model_tag: str, files: list[Path]) -> str:
    digest = hashlib.sha256(model_tag.encode())
    for path in sorted(files):
        digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def build_wheel(out_dir: Path) -> Path:
    """The shared `reception` package as a wheel, so a containerised bento installs the same code."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out_dir), "."], check=True)
    return next(out_dir.glob("reception-*.whl"))


def main() -> None:
    params = load_params("bento")
    import bentoml

    champion_md5 = locked_champion_md5()
    model_tag = f"{params['model_name']}:{champion_md5}"
    try:
        bentoml.models.get(model_tag)
    except bentoml.exceptions.NotFound:
        bentoml.mlflow.import_model(model_tag, str(CHAMPION_DIR), labels={"source": "dvc:models/champion"})
    os.environ["RECEPTION_MODEL_TAG"] = model_tag  # read by service/service.py at build time

    sources = [Path(p) for p in INCLUDE] + sorted(Path("src/reception").glob("*.py")) + [Path("pyproject.toml"),
                                                                                      Path("requirements.lock")]
    bento_version = content_version(model_tag, sources)
    bento_tag = f"{params['bento_name']}:{bento_version}"
    try:
        bentoml.bentos.get(bento_tag)
        print(f"bento: {bento_tag} already built")
    except bentoml.exceptions.NotFound:
        # BentoML takes wheels by a path relative to the build context, so the folder sits in the repo.
        with tempfile.TemporaryDirectory(dir=".", prefix="wheels-") as wheels:
            bento = bentoml.build(
                SERVICE, name=params["bento_name"], version=bento_version, include=INCLUDE,
                labels={"champion": champion_md5}, build_ctx=".",
                python={"requirements_txt": "requirements.lock", "lock_packages": False,
                        "wheels": [build_wheel(Path(wheels)).as_posix()]},
                docker={"python_version": "3.11"})
        print(f"bento: built {bento.tag} in {bento.path}")
    write_json(BENTO_FILE, {"bento": bento_tag, "model": model_tag, "champion_md5": champion_md5})


if __name__ == "__main__":
    main()
