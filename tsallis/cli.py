"""The ``tsallis`` command line.

Subcommands are plug-ins: every entry point in the group ``tsallis.commands`` (declared in
``pyproject.toml``) names a function ``register(subparsers)`` that adds one subcommand and sets
``func`` on its parser. The core package therefore never imports ``sim``, ``llm`` or ``figures``.

Errors: a subcommand reports a bad option, file, record or value by raising (``ValueError`` and its
subclasses such as the trainer's ``ConfigError`` and the loaders' ``DataFormatError``; ``OSError`` for files;
``ImportError`` for a missing optional extra; ``SystemExit`` with a message). :func:`main` prints it as one line,
``tsallis COMMAND: error: ...``, and returns 2; ``--debug`` shows the traceback instead. Ctrl-C returns 130.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import entry_points, version

ENTRY_POINT_GROUP = "tsallis.commands"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """Create the top-level parser and let the registered plug-ins add their subcommands.

    When ``argv`` names a subcommand (its first word that is not an option), only that plug-in is loaded, so
    ``tsallis figures`` does not import the trainer; otherwise (``--help``, a typo) every plug-in is.
    """
    parser = argparse.ArgumentParser(
        prog="tsallis",
        description="Post-training on the Tsallis loss continuum: q = 0 is RLVR, q = 1 is log marginal likelihood.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('tsallis-continuum')}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugins = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    command = next((word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")), None)
    chosen = [entry for entry in plugins if entry.name == command]
    for entry in chosen or plugins:
        entry.load()(subparsers)
    return parser


USER_ERRORS = (ValueError, OSError, ImportError)
"""Exception types that report a user error (bad option, file or value; a missing extra), not a bug."""


def one_line(error: BaseException) -> str:
    """The error's message on one line: a multi-line message's lines joined by "; ", without a leading
    ``tsallis ...:`` prefix (:func:`main` adds its own)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = "; ".join(lines) or type(error).__name__
    return re.sub(r"^tsallis( [a-z-]+)?: (error: )?", "", text)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; print help when none is given.

    Returns the subcommand's exit code; 2 for a user error (module docstring), 130 after Ctrl-C.
    """
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except SystemExit as stop:
        if isinstance(stop.code, str):  # SystemExit("message"): a user error raised by a subcommand
            if args.debug:
                raise
            print(f"tsallis {args.command}: error: {one_line(stop)}", file=sys.stderr)
            return 2
        raise
    except USER_ERRORS as err:
        if args.debug:
            raise
        print(f"tsallis {args.command}: error: {one_line(err)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"tsallis {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
