"""What every subcommand shares: reading a scenario, reporting bad input, the exit codes, writing output."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from sizing.scenario import MAX_SCENARIO_BYTES, InputError, Scenario, error_lines, scenario_from_json

EXIT_OK = 0
EXIT_TARGET_MISSED = 1
EXIT_BAD_INPUT = 2
EXIT_FAILED = 3


def read_text(source: str) -> str:
    """The text of a path, or of stdin for '-', at most MAX_SCENARIO_BYTES; InputError naming FILE."""
    if source == "-":
        text = sys.stdin.read(MAX_SCENARIO_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"FILE: no such file {source!r}")
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise InputError(f"FILE: {source!r} is larger than {MAX_SCENARIO_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    if len(text.encode()) > MAX_SCENARIO_BYTES:
        raise InputError(f"FILE: input is larger than {MAX_SCENARIO_BYTES} bytes")
    return text


def load_scenario(source: str) -> Scenario:
    """Read a scenario from a path or '-' (stdin); InputError naming each bad field."""
    return scenario_from_json(read_text(source), "FILE")


def add_format_option(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "--format",
        choices=("json", "table", "markdown"),
        default=default,
        help="json is stable for scripts (default: %(default)s)",
    )


def emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand body; bad input becomes exit 2 with the message on stderr and nothing on stdout."""
    try:
        return func(args)
    except ValidationError as exc:
        print("error: " + "\n".join(error_lines(exc)), file=sys.stderr)
    except (InputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return EXIT_BAD_INPUT
