"""Moving a scenario in and out of the app: JSON files, the endpoint table in the URL, measured points.

Everything arriving from outside (an upload, a URL) is untrusted: sizes are capped before parsing, only
JSON is parsed (never pickle, never eval), and the result is validated by the same pydantic models as
typed input, so errors come back as one line per field.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sizing.figures import PointEstimate
from sizing.scenario import MAX_SCENARIO_BYTES, Endpoint, InputError, Scenario, load_json, scenario_from_json
from sizing_app.services._fields import COLUMN_NAMES
from sizing_app.services._inputs import endpoints_from_rows, label_for

__all__ = [
    "MAX_UPLOAD_BYTES",
    "decode_endpoints",
    "encode_endpoints",
    "measured_points",
    "scenario_from_file",
    "scenario_to_json",
]

MAX_UPLOAD_BYTES = MAX_SCENARIO_BYTES
_MAX_URL_CHARS = 8000
_MAX_URL_JSON_BYTES = 64 * 1024
_URL_PREFIX = "z1."


def scenario_from_file(data: bytes | str) -> Scenario:
    """A scenario from an uploaded JSON file, problems named as the form names its fields."""

    def labels(obj: dict[str, Any]) -> Callable[[tuple[int | str, ...]], str]:
        eps = obj.get("endpoints")
        return label_for([e if isinstance(e, dict) else {} for e in eps] if isinstance(eps, list) else [])

    return scenario_from_json(data, "Scenario file", labels)


def scenario_to_json(scenario: Scenario) -> str:
    return scenario.model_dump_json(indent=2) + "\n"


def _non_default(row: Mapping[str, Any]) -> dict[str, Any]:
    fields = Endpoint.model_fields
    out = {}
    for k, v in row.items():
        f = fields.get(k)
        if f is None or (not f.is_required() and f.default == v):
            continue
        out[k] = v
    return out


def encode_endpoints(rows: Sequence[Mapping[str, Any]]) -> str:
    """The endpoint table as one URL-safe token (compressed JSON of the non-default cells)."""
    compact = [_non_default(r) for r in endpoints_from_rows(rows)]
    text = json.dumps(compact, separators=(",", ":"), sort_keys=True)
    return _URL_PREFIX + base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def decode_endpoints(token: str) -> list[dict[str, Any]]:
    """Table rows from `encode_endpoints`'s token; InputError if the token is damaged or oversized."""
    what = "URL parameter endpoints"
    if len(token) > _MAX_URL_CHARS or not token.startswith(_URL_PREFIX):
        raise InputError([f"{what}: not a scenario link made by this app"])
    body = token[len(_URL_PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        inflater = zlib.decompressobj()
        text = inflater.decompress(packed, _MAX_URL_JSON_BYTES)
    except (binascii.Error, zlib.error, ValueError):
        raise InputError([f"{what}: damaged (was the link cut short?)"]) from None
    if inflater.unconsumed_tail:
        raise InputError([f"{what}: too large"])
    try:
        rows = json.loads(text.decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InputError([f"{what}: damaged (was the link cut short?)"]) from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError([f"{what}: expected a list of endpoint rows"])
    return [{c: r.get(c, _default(c)) for c in COLUMN_NAMES} for r in rows]


def _default(column: str) -> Any:
    f = Endpoint.model_fields[column]
    return None if f.is_required() else f.default


_RATE_KEYS = ("rps", "achieved_rps", "offered_rps", "target_rps", "rate")
_STATS = ("mean", "p50", "p95", "p99")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and v >= 0 else None


def _point(obj: Mapping[str, Any]) -> PointEstimate | None:
    rate = next((_number(obj[k]) for k in _RATE_KEYS if k in obj and _number(obj[k]) is not None), None)
    if rate is None or rate <= 0:
        return None
    src: Mapping[str, Any] = obj
    inner = obj.get("measured")
    if isinstance(inner, Mapping):
        src = inner
    stats = {s: _number(src.get(f"{s}_ms", src.get(s))) for s in _STATS}
    if all(v is None for v in stats.values()):
        return None
    return PointEstimate(
        rps=rate, mean_ms=stats["mean"], p50_ms=stats["p50"], p95_ms=stats["p95"], p99_ms=stats["p99"]
    )


def measured_points(data: bytes | str) -> list[PointEstimate]:
    """Measured latency points from a validation results JSON (`python -m sizing validate --out`):
    a list of points, or an object holding one under "points" or "results"; each point has a rate
    ("rps") and measured "mean_ms", "p50_ms", "p95_ms", "p99_ms" (at its top level or under "measured")."""
    obj = load_json(data, "Validation results")
    items: Any = obj
    if isinstance(obj, dict):
        items = next(
            (obj[k] for k in ("points", "results", "measurements") if isinstance(obj.get(k), list)), None
        )
    if not isinstance(items, list):
        raise InputError(
            ['Validation results: expected a list of measured points (or an object with "points")']
        )
    points = [p for p in (_point(i) for i in items if isinstance(i, Mapping)) if p is not None]
    if not points:
        raise InputError(
            [
                "Validation results: no point has a rate (rps) and a measured latency "
                "(mean_ms, p50_ms, p95_ms or p99_ms)"
            ]
        )
    return sorted(points, key=lambda p: p.rps)
