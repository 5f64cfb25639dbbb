"""Reading a scenario from outside: the one size cap, the one input error, the one pydantic-error formatter.

Everything arriving from outside (a file, stdin, an upload, a URL) is untrusted: its size is capped before
parsing, only JSON is parsed (never pickle, never eval), and the result is validated by the scenario's own
models, so a problem comes back as one line per bad field. The CLI and the app both read through here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from sizing.scenario._models import Scenario

__all__ = ["MAX_SCENARIO_BYTES", "InputError", "error_lines", "load_json", "scenario_from_json"]

# The same limit as the app's uploader (server.maxUploadSize = 1 MB in .streamlit/config.toml).
MAX_SCENARIO_BYTES = 1024 * 1024

Label = Callable[[tuple[int | str, ...]], str]

# pydantic error types whose input is worth echoing: the rest say all there is (a missing field), or come
# from a validator whose message already names the value.
_QUIET_TYPES = ("missing", "value_error", "model_type", "assertion_error")


class InputError(ValueError):
    """Invalid input: one line per problem, each naming the field, the value and what it must be.

    `lines` holds them; `str()` joins them with newlines. The CLI prints them and exits with 2, the app
    shows them in one error box.
    """

    def __init__(self, lines: str | Sequence[str]) -> None:
        self.lines = [lines] if isinstance(lines, str) else (list(lines) or ["invalid input"])
        super().__init__("\n".join(self.lines))


def dotted(loc: tuple[int | str, ...]) -> str:
    """A field's location as the JSON path a user would write: `endpoints.0.share`."""
    return ".".join(str(p) for p in loc) or "scenario"


def error_lines(exc: ValidationError, label: Label = dotted) -> list[str]:
    """One line per failing field: `<label>: <what it must be> (got <value>)`, duplicates dropped.

    `label` turns a pydantic location into the field's name as the reader knows it: the JSON path by
    default, the form's label in the app.
    """
    lines = []
    for err in exc.errors(include_url=False):
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        where = label(tuple(err.get("loc", ())))
        if "input" in err and err["type"] not in _QUIET_TYPES:
            lines.append(f"{where}: {msg} (got {err['input']!r})")
        else:
            lines.append(f"{where}: {msg}")
    return list(dict.fromkeys(lines))


def load_json(data: bytes | str, what: str = "input") -> Any:
    """Parse untrusted JSON text of at most MAX_SCENARIO_BYTES; InputError naming `what` otherwise."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_SCENARIO_BYTES:
        raise InputError(f"{what}: {len(raw)} bytes is over the {MAX_SCENARIO_BYTES} byte (1 MiB) limit")
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{what}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{what}: nested too deeply") from None


def scenario_from_json(
    data: bytes | str, what: str = "scenario", labels: Callable[[dict[str, Any]], Label] | None = None
) -> Scenario:
    """A scenario from its JSON text (the format `python -m sizing` reads and writes).

    A file that wraps the scenario under a "scenario" key (a validation report, a saved session) is read
    too. Raises InputError with one line per problem; `labels(obj)`, given the parsed object, returns the
    `label` for `error_lines` (the app names an endpoint by its position and name).
    """
    obj = load_json(data, what)
    if not isinstance(obj, dict):
        raise InputError(f"{what}: expected a scenario (a JSON object), got {type(obj).__name__}")
    if "traffic" not in obj and isinstance(obj.get("scenario"), dict):
        obj = obj["scenario"]
    try:
        return Scenario.model_validate(obj)
    except ValidationError as exc:
        raise InputError(error_lines(exc, dotted if labels is None else labels(obj))) from None
