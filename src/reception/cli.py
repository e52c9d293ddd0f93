"""`reception`: the project's operational commands, one subcommand each.

Each subcommand lives in its own module, which provides `configure(parser)` (its arguments) and
`run(args) -> int` (the exit status). Modules keep heavy imports inside their functions so that
`reception --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# NannyML sends usage telemetry unless this is set; the project never lets it.
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

SUBCOMMANDS = {
    "extract": ("reception.reddit.extract", "pull fresh Reddit data into an append-only source folder"),
    "prune": ("reception.reddit.prune", "delete raw batches older than the retention set in params.yaml, "
                                         "and cached embeddings of texts no longer in the data"),
    "monitor": ("reception.monitor", "drift, estimated and realized performance of the served model"),
    "profile": ("reception.profiles", "write a profile (profiles/NAME.yaml: sample, corpus) into params.yaml"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="reception", description=__doc__.splitlines()[0])
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, summary) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(module=module)
        importlib.import_module(module).configure(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return importlib.import_module(args.module).run(args)


if __name__ == "__main__":
    sys.exit(main())
