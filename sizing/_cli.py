"""`python -m sizing`: subcommands are registered by one module per feature."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# One module per feature; each exposes `register(subparsers)` and sets `func(args) -> int` on its parsers.
_COMMAND_MODULES = (
    "sizing._cli_model",
    "sizing._cli_simulate",
    "sizing._cli_validate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sizing",
        description="Size a FastAPI service: thread tokens, DB and HTTP pools, workers and hosts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
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
