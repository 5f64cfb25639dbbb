"""Inputs to scenario and back: the values of the fields in `_fields`, the endpoint table, and the
pydantic errors turned into one line per field as the user sees it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from sizing.scenario import InputError, Scenario, preset
from sizing.scenario import error_lines as scenario_error_lines
from sizing_app.services._fields import BY_KEY, COLUMN_NAMES, ENDPOINT_COLUMNS, FIELDS

__all__ = [
    "DEFAULT_PRESET",
    "Form",
    "default_rows",
    "default_values",
    "endpoints_from_rows",
    "label_for",
    "rows_from_scenario",
    "scenario_from_inputs",
    "short_values",
    "values_from_scenario",
]

DEFAULT_PRESET = "mixed service"
Form = Literal["short", "expert"]


def values_from_scenario(scenario: Scenario) -> dict[str, float | int]:
    """Every field's value in `scenario` (short-form fields derived, see `short_values`)."""
    out: dict[str, float | int] = {}
    for f in FIELDS:
        if f.path is not None:
            section, attr = f.path
            value = getattr(getattr(scenario, section), attr)
            out[f.key] = 0 if value is None and f.zero_is_none else value
    out.update(short_values(scenario))
    return out


def short_values(scenario: Scenario) -> dict[str, float]:
    """The short form's two endpoint numbers summarising a scenario: the share of `def` requests and the
    share-weighted latency of one upstream call among requests that make one."""
    eps = scenario.endpoints
    sync = math.fsum(e.share for e in eps if e.handler == "sync")
    callers = [e for e in eps if e.upstream_calls > 0 and e.upstream_latency_ms > 0]
    weight = math.fsum(e.share for e in callers)
    upstream = math.fsum(e.share * e.upstream_latency_ms for e in callers) / weight if weight > 0 else 0.0
    return {"sync": round(min(max(sync, 0.0), 1.0), 6), "upstream": round(upstream, 3)}


def rows_from_scenario(scenario: Scenario) -> list[dict[str, Any]]:
    return [{c: getattr(e, c) for c in COLUMN_NAMES} for e in scenario.endpoints]


def default_values() -> dict[str, float | int]:
    return values_from_scenario(preset(DEFAULT_PRESET))


def default_rows() -> list[dict[str, Any]]:
    return rows_from_scenario(preset(DEFAULT_PRESET))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _plain(value: Any) -> Any:
    """numpy and pandas scalars as Python ones (pydantic's strict JSON-like checks want plain types)."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, str | bytes):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def endpoints_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Endpoint dicts from table rows: blank cells dropped (the model's defaults apply), blank rows skipped,
    unknown columns ignored (a table may carry display columns)."""
    out = []
    for row in rows:
        clean = {k: _plain(v) for k, v in row.items() if k in COLUMN_NAMES and not _missing(_plain(v))}
        if not clean:
            continue
        if isinstance(clean.get("name"), str):
            clean["name"] = clean["name"].strip()
        out.append(clean)
    return out


def label_for(endpoints: Sequence[Mapping[str, Any]]) -> Callable[[tuple[int | str, ...]], str]:
    """A field's label as the form shows it (for `sizing.scenario.error_lines`), naming endpoints by their
    position and name in `endpoints`."""
    return lambda loc: _label_for_loc(loc, endpoints)


def _label_for_loc(loc: Sequence[str | int], endpoints: Sequence[Mapping[str, Any]]) -> str:
    if not loc:
        return "Scenario"
    head = loc[0]
    if head == "endpoints":
        if len(loc) >= 2 and isinstance(loc[1], int):
            i = loc[1]
            name = endpoints[i].get("name") if i < len(endpoints) else None
            who = f"Endpoint {i + 1}" + (f" ({name!r})" if name else "")
            if len(loc) >= 3:
                col = next((c for c in ENDPOINT_COLUMNS if c.name == loc[2]), None)
                return f"{who}, {col.label if col else loc[2]}"
            return who
        return "Endpoints"
    if len(loc) >= 2:
        for f in FIELDS:
            if f.path == (head, loc[1]):
                return f.title
    return {"traffic": "Traffic", "deployment": "Deployment", "targets": "Targets", "runtime": "Runtime"}.get(
        str(head), ".".join(str(p) for p in loc)
    )


# Scenario.simple builds the parts one by one, so an error's loc ends with the part's own field name.
_SHORT_LOCS = {
    "rps": "rps",
    "cores_per_host": "cores",
    "db_pool_size": "pool",
    "upstream_latency_ms": "upstream",
    "share": "sync",
}


def _short_label(loc: tuple[int | str, ...]) -> str:
    key = _SHORT_LOCS.get(str(loc[-1])) if loc else None
    return BY_KEY[key].title if key else ".".join(str(p) for p in loc)


def _short_scenario(values: Mapping[str, Any]) -> Scenario:
    try:
        return Scenario.simple(
            rps=float(values["rps"]),
            sync_fraction=float(values["sync"]),
            upstream_latency_ms=float(values["upstream"]),
            db_pool_size=int(values["pool"]),
            cores=int(values["cores"]),
        )
    except ValidationError as exc:
        raise InputError(scenario_error_lines(exc, _short_label)) from None
    except ValueError as exc:
        raise InputError([f"{BY_KEY['sync'].title}: {exc}"]) from None


def scenario_from_inputs(
    values: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], form: Form
) -> Scenario:
    """The scenario the inputs describe. Short form: `Scenario.simple` from five numbers, everything else at
    FastAPI's, uvicorn's and SQLAlchemy's defaults. Expert form: every field and the endpoint table.
    Raises InputError (one line per field) when the inputs are invalid."""
    if form == "short":
        return _short_scenario(values)
    missing = [f.title for f in FIELDS if f.path is not None and f.key not in values]
    if missing:
        raise InputError([f"{m}: missing" for m in missing])
    nested: dict[str, dict[str, Any]] = {"traffic": {}, "deployment": {}, "targets": {}, "runtime": {}}
    for f in FIELDS:
        if f.path is not None:
            value = _plain(values[f.key])
            nested[f.path[0]][f.path[1]] = None if f.zero_is_none and value == 0 else value
    endpoints = endpoints_from_rows(rows)
    if not endpoints:
        raise InputError(["Endpoints: add at least one request class"])
    try:
        return Scenario.model_validate({**nested, "endpoints": endpoints})
    except ValidationError as exc:
        raise InputError(scenario_error_lines(exc, label_for(endpoints))) from None
