"""The ``tsallis`` command line.

Subcommands are plug-ins: every entry point in the group ``tsallis.commands`` (declared in
``pyproject.toml``) names a function ``register(subparsers)`` that adds one subcommand and sets
``func`` on its parser. The core package therefore never imports ``sim``, ``llm`` or ``figures``.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points, version

ENTRY_POINT_GROUP = "tsallis.commands"


def build_parser() -> argparse.ArgumentParser:
    """Create the top-level parser and let every registered plug-in add its subcommand."""
    parser = argparse.ArgumentParser(
        prog="tsallis",
        description="Post-training on the Tsallis loss continuum: q = 0 is RLVR, q = 1 is log marginal likelihood.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('tsallis-continuum')}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; print help when none is given."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
