"""`python -m sizing`: the command-line interface, argparse only.

Every subcommand but `calibrate` (which reads probe profiles) reads a scenario JSON file (or `-` for
stdin) and writes a table, Markdown or JSON on stdout. Exit codes: 0 done (or every target met), 1 a
target or a validation band missed, 2 bad input (one line per problem on stderr, nothing on stdout), 3
the model, the simulator or the validation harness failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sizing.cli import _calibrate, _model, _simulate, _validate
from sizing.cli._common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, EXIT_TARGET_MISSED

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_TARGET_MISSED", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole parser, every subcommand with its options (the docs' CLI reference is generated from it)."""
    parser = argparse.ArgumentParser(
        prog="python -m sizing",
        description="Size a FastAPI service: thread tokens, DB and HTTP pools, workers and hosts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _model.register(sub)
    _simulate.register(sub)
    _validate.register(sub)
    _calibrate.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
