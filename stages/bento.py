"""bento: import the locked winner (register's models/champion, the registry's champion only when it got
the alias) and every other trained family into the BentoML model store and build the service's bento.

The locked winner's tag is `reddit-reception:<md5 of models/champion in dvc.lock>`, another family's
`reddit-reception-<family>:<md5 of models/served/<family>>`; the bento's version is a hash of the tags
and every file the bento includes, so an unchanged set of models and service build nothing new.
The store is BentoML's own (BENTOML_HOME, default ~/bentoml).
Writes the bento manifest, models/bento.json (reception.serving.bento_manifest), before the build and
ships it inside the bento: the service serves the tags it names, never the store's `latest`, which is
whatever was imported last (e.g. by a `dvc exp run` in another checkout), and loads each only once its
folder in the store matches the sha256 of every file the manifest records, hashed here from the
DVC-tracked folder it was imported from.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from reception.models.artifact_hashes import folder_hashes
from reception.params import load_params
from reception.paths import BENTO_FILE, CHAMPION_DIR, COMPARISON_JSON, LOCK_FILE, SERVED_DIR
from reception.serving.bento_manifest import BentoManifest

SERVICE = "service.service:RedditReception"
# Every file the service needs (service/service.py imports its siblings), in the bento and in its hash.
INCLUDE = ["service/service.py", "service/config.py", "service/schemas.py", "service/errors.py", "service/ui.html",
           "params.yaml"]
SHIPPED = [str(BENTO_FILE)]  # in the bento, not in its hash: it follows from the model tag and INCLUDE


def locked_champion_md5() -> str:
    outs = yaml.safe_load(LOCK_FILE.read_text())["stages"]["register"]["outs"]
    return next(o["md5"] for o in outs if o["path"] == str(CHAMPION_DIR)).removesuffix(".dir")


def content_version(model_tag: str, files: list[Path]) -> str:
    digest = hashlib.sha256(model_tag.encode())
    for path in sorted(files):
        digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def folder_md5(folder: Path) -> str:
    digest = hashlib.md5()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def import_once(bentoml, tag: str, folder: Path) -> str:
    try:
        bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        bentoml.mlflow.import_model(tag, str(folder), labels={"source": f"dvc:{folder.as_posix()}"})
    return tag


def served_models(bentoml, model_name: str, champion_tag: str, champion: str) -> tuple[dict, dict]:
    """({key: {tag, family, kind, thread_cv_roc_auc, champion}} of every family register packaged (every
    trained family this machine trained, the champion included, and the TF-IDF baseline); {key: why
    not} of the declared trained families it did not train)."""
    models, unavailable = {}, {}
    for row in json.loads(COMPARISON_JSON.read_text()):
        if row["kind"] == "trained" and row["status"] != "ok":
            unavailable[row["family"]] = f"not trained on this machine: {row['reason']}"
            continue
        folder = SERVED_DIR / row["family"]
        if row["family"] != champion and not folder.is_dir():  # a baseline without a kept model
            continue
        tag = (champion_tag if row["family"] == champion else
               import_once(bentoml, f"{model_name}-{row['family'].replace('_', '-')}:{folder_md5(folder)}", folder))
        models[row["family"]] = {"tag": tag, "family": row["family"], "kind": row["kind"],
                                 "champion": tag == champion_tag, "thread_cv_roc_auc": row["thread_cv_roc_auc_mean"]}
    return models, unavailable


def build_wheel(out_dir: Path) -> Path:
    """The shared `reception` package as a wheel, so a containerised bento installs the same code."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out_dir), "."], check=True)
    return next(out_dir.glob("reception-*.whl"))


def main() -> None:
    params = load_params("bento")
    import bentoml

    champion_md5 = locked_champion_md5()
    model_tag = import_once(bentoml, f"{params['model_name']}:{champion_md5}", CHAMPION_DIR)
    family = json.loads((CHAMPION_DIR / "registration.json").read_text())["family"]
    models, unavailable = served_models(bentoml, params["model_name"], model_tag, family)

    sources = [Path(p) for p in INCLUDE] + sorted(Path("src/reception").rglob("*.py")) + [Path("pyproject.toml"),
                                                                                      Path("requirements.lock")]
    bento_version = content_version(json.dumps([model_tag, models, unavailable], sort_keys=True), sources)
    bento_tag = f"{params['bento_name']}:{bento_version}"
    files = {key: folder_hashes(CHAMPION_DIR if entry["champion"] else SERVED_DIR / key)
             for key, entry in models.items()}
    BentoManifest(bento_tag, model_tag, champion_md5, family, models, unavailable, files).write(BENTO_FILE)
    try:
        bentoml.bentos.get(bento_tag)
        print(f"bento: {bento_tag} already built")
    except bentoml.exceptions.NotFound:
        # BentoML takes wheels by a path relative to the build context, so the folder sits in the repo.
        with tempfile.TemporaryDirectory(dir=".", prefix="wheels-") as wheels:
            bento = bentoml.build(
                SERVICE, name=params["bento_name"], version=bento_version, include=INCLUDE + SHIPPED,
                labels={"champion": champion_md5}, build_ctx=".",
                python={"requirements_txt": "requirements.lock", "lock_packages": False,
                        "wheels": [build_wheel(Path(wheels)).as_posix()]},
                docker={"python_version": "3.11"})
        print(f"bento: built {bento.tag} in {bento.path}")


if __name__ == "__main__":
    main()
