"""What every subcommand shares: reading a scenario, reporting bad input, writing output."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sizing._scenario import Scenario

EXIT_OK = 0
EXIT_TARGET_MISSED = 1
EXIT_BAD_INPUT = 2

MAX_SCENARIO_BYTES = 1_000_000


class InputError(Exception):
    """Bad input: the CLI prints the message (one line per problem) to stderr and exits with 2."""


def format_validation_error(exc: ValidationError) -> str:
    """One readable line per bad field: `endpoints.0.share: Input should be ... (got 1.5)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "scenario"
        msg = err["msg"]
        if "input" in err and err["type"] not in ("missing", "value_error", "model_type"):
            lines.append(f"{loc}: {msg} (got {err['input']!r})")
        else:
            lines.append(f"{loc}: {msg}")
    return "\n".join(lines)


def read_text(source: str) -> str:
    if source == "-":
        text = sys.stdin.read(MAX_SCENARIO_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"FILE: no such file {source!r}")
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise InputError(f"FILE: {source!r} is larger than {MAX_SCENARIO_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    if len(text) > MAX_SCENARIO_BYTES:
        raise InputError(f"FILE: input is larger than {MAX_SCENARIO_BYTES} bytes")
    return text


def load_json(source: str) -> Any:
    text = read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"FILE: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def load_scenario(source: str) -> Scenario:
    """Read a scenario from a path or '-' (stdin); InputError naming each bad field."""
    data = load_json(source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc)) from None


def add_format_option(parser: argparse.ArgumentParser, default: str = "table") -> None:
    parser.add_argument(
        "--format",
        choices=("json", "table", "markdown"),
        default=default,
        help="json is stable for scripts (default: %(default)s)",
    )


def run_guarded(func: Any, args: argparse.Namespace) -> int:
    """Run a subcommand body; bad input becomes exit 2 with the message on stderr and nothing on stdout."""
    try:
        code: int = func(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        print(f"error: {format_validation_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return code
