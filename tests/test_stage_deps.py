"""Every stage lists, among its dvc.yaml deps, each module of the shared package its script imports (or a
folder that holds it, such as a whole subpackage).

A stage whose deps miss a module it imports keeps stale outputs when that module changes: DVC would
not re-run it. Each script is imported (its main() is not run) in a fresh interpreter, which reports
the reception modules it loaded.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.repo import Repo

pytestmark = pytest.mark.integration  # one interpreter per stage: too slow for `make test-unit`
REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "reception"
LOADED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("stage_script", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))
"""


def stages() -> list:
    """(stage name, script, deps) of every stage, foreach stages resolved."""
    with Repo(str(REPO)) as repo:
        return [pytest.param(stage.name, stage.cmd.split()[1], {dep.def_path for dep in stage.deps}, id=stage.name)
                for stage in repo.index.stages if stage.cmd.startswith("python ")]


@pytest.mark.parametrize(("name", "script", "deps"), stages())
def test_stage_deps_list_every_module_its_script_imports(name, script, deps):
    loaded = json.loads(subprocess.run([sys.executable, "-c", LOADED, script], cwd=REPO, capture_output=True,
                                       text=True, check=True).stdout)
    modules = {Path(f).resolve() for f in loaded if Path(f).resolve().is_relative_to(PACKAGE)}
    modules = {m.relative_to(REPO).as_posix() for m in modules if m.name != "__init__.py"}
    assert modules, f"{script} imports no module of src/reception: is the check looking in the right place?"
    missing = sorted(m for m in modules if not any(m == dep or m.startswith(dep + "/") for dep in deps))
    assert script in deps, f"stage {name} does not list its own script {script}"
    assert not missing, f"stage {name} imports {missing} but dvc.yaml does not list them as deps"
