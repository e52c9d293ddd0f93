"""The user-facing documents stay true to the repository: every params key documented, links resolve,
the README stays a front door."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README, DOCS = REPO / "README.md", REPO / "docs"


def param_keys(tree: dict, prefix: str = "") -> set[str]:
    """Dotted keys of params.yaml; a family's entry reads as families.<group>.<family>.<key>, and its
    search space as one key."""
    keys = set()
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        parts = dotted.split(".")
        if parts[0] == "families" and len(parts) == 3:  # families.<group>.<name>
            keys |= {f"families.{parts[1]}.<family>.{field}" for field in value}
        elif isinstance(value, dict):
            keys |= param_keys(value, dotted + ".")
        else:
            keys.add(dotted)
    return keys


def test_every_params_key_is_documented_once():
    documented = (DOCS / "params.md").read_text()
    keys = param_keys(yaml.safe_load((REPO / "params.yaml").read_text()))
    missing = sorted(k for k in keys if f"`{k}`" not in documented and f"`.{k.rsplit('.', 1)[1]}`" not in documented)
    assert not missing, f"docs/params.md does not document {missing}"


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    for page in [README, *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+?\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to a missing page: {target}"
