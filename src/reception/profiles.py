"""`reception profile NAME`: write a profile's values into params.yaml (`make run`: sample, `make run-corpus`:
corpus); `reception profile` alone says which profile params.yaml holds.

A profile is profiles/<NAME>.yaml, a partial tree of params.yaml two levels deep: `section: {key: value}`.
Each value replaces params.yaml's `section.key` whole, whatever it holds: a list or a mapping (a
`families.train` of one family, an empty `families.finetune: {}`) is not merged into the one in place,
so a profile states all of it. A section or key that params.yaml does not have is an error and nothing is
written: a misspelt key would otherwise leave the value in place without a word.

params.yaml stays the one file the stages, the service and DVC read: `dvc repro`, `dvc exp run`, `dvc exp
show` and `dvc metrics diff` work on the applied profile as on any edit. Its comments and order are kept
(ruamel.yaml's round trip, which `dvc exp run -S` uses too), a value equal to the one in place is left as
it is, and the profile's name goes to `base.profile`. Every profile names the same keys
(tests/test_profiles.py), so switching from one to another leaves none of the first's values behind, and
profiles/sample.yaml holds the committed params.yaml's values: applying it to that file changes nothing.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from reception.paths import PARAMS_FILE, PROFILES_DIR

PROFILE_KEY = ("base", "profile")


class ProfileError(ValueError):
    """A profile that cannot be applied: not two levels deep, or naming a key params.yaml lacks."""


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments, order, flow style and quotes as written
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    yaml.indent(mapping=2, sequence=4, offset=2)
    # null as params.yaml writes it (ruamel's round trip would leave the value empty)
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def profile_names(profiles_dir: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in profiles_dir.glob("*.yaml"))


def profile_file(name: str, profiles_dir: Path = PROFILES_DIR) -> Path:
    path = profiles_dir / f"{name}.yaml"
    if not path.is_file():
        raise ProfileError(f"no profile {name!r}: {path} does not exist (profiles: "
                           f"{', '.join(profile_names(profiles_dir)) or 'none'})")
    return path


def read_profile(path: Path):
    """The profile's tree (ruamel's round-trip nodes: their comments travel into params.yaml)."""
    tree = _yaml().load(path.read_text())
    if not isinstance(tree, dict):
        raise ProfileError(f"{path}: a profile is a mapping of params.yaml sections")
    for section, keys in tree.items():
        if not isinstance(keys, dict) or not keys:
            raise ProfileError(f"{path}: {section} must map params.yaml keys of that section to their values")
    return tree


def key_paths(tree: dict) -> list[str]:
    """`section.key` of every value a profile sets, in its order."""
    return [f"{section}.{key}" for section, keys in tree.items() for key in keys]


def plain(value) -> str:
    """A value as plain data, order included (the order of families is the order of the stages' reports)."""
    return json.dumps(value, default=str)


def apply(params_text: str, profile: dict, name: str) -> tuple[str, list[str]]:
    """(params.yaml's text with the profile's values and base.profile = name, the keys whose value changed)."""
    yaml = _yaml()
    params = yaml.load(params_text)
    unknown = [path for path in key_paths(profile)
               if not isinstance(params.get(path.split(".")[0]), dict) or path.split(".", 1)[1]
               not in params[path.split(".")[0]]]
    if unknown:
        raise ProfileError(f"profile {name}: params.yaml has no {', '.join(unknown)} (a profile only sets keys "
                           "that params.yaml has)")
    changed = []
    for section, keys in profile.items():
        for key, value in keys.items():
            if plain(params[section][key]) != plain(value):
                params[section][key] = value
                changed.append(f"{section}.{key}")
    section, key = PROFILE_KEY
    if params[section].get(key) != name:
        params[section][key] = name
        changed.append(f"{section}.{key}")
    if not changed:
        return params_text, []
    out = io.StringIO()
    yaml.dump(params, out)
    return out.getvalue(), changed


def differences(params_text: str, profile: dict) -> list[str]:
    """The keys of the profile whose value in params.yaml is not the profile's."""
    params = _yaml().load(params_text)
    return [f"{section}.{key}" for section, keys in profile.items() for key, value in keys.items()
            if plain((params.get(section) or {}).get(key)) != plain(value)]


def missing_source(profile: dict, root: Path = Path(".")) -> str | None:
    """Why the profile's ingest.source cannot be read, or None: checked before anything is written."""
    source = (profile.get("ingest") or {}).get("source")
    if source is None or (root / source).is_dir():
        return None
    return (f"its data is missing: ingest.source {source} is not a folder ({(root / source).resolve()}); put the "
            f"data there, or point ingest.source in the profile's file at it")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="the profile to apply (profiles/NAME.yaml); none: say which "
                                                "profile params.yaml holds")
    parser.add_argument("--params", type=Path, default=PARAMS_FILE, help=argparse.SUPPRESS)
    parser.add_argument("--profiles", type=Path, default=PROFILES_DIR, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    params_text = args.params.read_text()
    try:
        if args.name is None:
            return show(params_text, args.profiles)
        profile = read_profile(profile_file(args.name, args.profiles))
        if reason := missing_source(profile, args.params.parent):
            print(f"reception profile {args.name}: {reason}; params.yaml unchanged", file=sys.stderr)
            return 2
        text, changed = apply(params_text, profile, args.name)
    except ProfileError as error:
        print(f"reception profile: {error}; params.yaml unchanged", file=sys.stderr)
        return 2
    if changed:
        args.params.write_text(text)
        print(f"reception profile {args.name}: {args.params} now holds it ({', '.join(changed)} changed)")
    else:
        print(f"reception profile {args.name}: {args.params} holds it already, nothing changed")
    return 0


def show(params_text: str, profiles_dir: Path) -> int:
    name = (_yaml().load(params_text).get(PROFILE_KEY[0]) or {}).get(PROFILE_KEY[1])
    if name is None:
        print("params.yaml names no profile (base.profile)")
        return 0
    edited = differences(params_text, read_profile(profile_file(name, profiles_dir)))
    print(f"params.yaml: profile {name}" + (f", edited since: {', '.join(edited)}" if edited else ""))
    return 0
