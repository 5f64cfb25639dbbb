"""Reading and merging probe profiles (format sizing-profile/1): several workers or time windows become one."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sizing.scenario._io import InputError

__all__ = ["PROFILE_FORMAT", "MergedRoute", "merge_profiles", "read_profile"]

PROFILE_FORMAT = "sizing-profile/1"
_MAX_BYTES = 50_000_000


def read_profile(source: str | Path | Mapping[str, Any], name: str = "profile") -> dict[str, Any]:
    """A profile from a path, a JSON string or a mapping; InputError naming `name` when it is not one."""
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        text = str(source)
        path = Path(text)
        if not text.lstrip().startswith("{"):
            if not path.is_file():
                raise InputError(f"{name}: no such file {text!r}")
            if path.stat().st_size > _MAX_BYTES:
                raise InputError(f"{name}: {text!r} is larger than {_MAX_BYTES} bytes")
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{name}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"{name}: expected a probe profile with format {PROFILE_FORMAT!r}, got {got!r}")
    if not isinstance(data.get("routes"), dict):
        raise InputError(f"{name}: 'routes' must be an object of route templates")
    return data


class MergedRoute:
    """One route's sums over every profile merged."""

    def __init__(self, handler: str) -> None:
        self.handler = handler
        self.requests = 0
        self.passes = 0
        self.exit_passes = 0
        self.thread_cpu_ms = 0.0
        self.thread_ms = 0.0
        self.response_ms = 0.0
        self.token_wait_ms = 0.0
        self.db_requests = 0
        self.db_hold_ms = 0.0
        self.db_hold_sq = 0.0  # from the per-request hold histogram (bucket midpoints)
        self.db_across = 0
        self.first_pass: dict[int, int] = {}

    def add(self, r: Mapping[str, Any]) -> None:
        self.requests += int(r["requests"])
        self.passes += int(r.get("passes", 0))
        self.exit_passes += int(r.get("exit_passes", 0))
        self.thread_cpu_ms += float(r.get("thread_cpu_ms", 0.0))
        self.thread_ms += float(r.get("thread_ms", {}).get("sum_ms", 0.0))
        self.response_ms += float(r.get("response_ms", {}).get("sum_ms", 0.0))
        self.token_wait_ms += float(r.get("token_wait_ms", {}).get("sum_ms", 0.0))
        db = r.get("db", {})
        self.db_requests += int(db.get("requests", 0))
        hold = db.get("hold_ms", {})
        self.db_hold_ms += float(hold.get("sum_ms", 0.0))
        self.db_hold_sq += _second_moment_sum(hold.get("buckets", {}))
        self.db_across += int(db.get("held_across_passes", 0))
        for k, n in db.get("first_checkout_pass", {}).items():
            self.first_pass[int(k)] = self.first_pass.get(int(k), 0) + int(n)


def _second_moment_sum(buckets: Mapping[str, Any]) -> float:
    """Sum of squares of the values in a probe histogram, each at its bucket's geometric middle."""
    total = 0.0
    for key, n in buckets.items():
        k = int(key)
        mid = 10.0 ** ((k - 30.5) / 10.0)  # bucket k spans edges k-1 .. k, edges 10^((j - 30) / 10)
        total += int(n) * mid * mid
    return total


def merge_profiles(profiles: Sequence[Mapping[str, Any]]) -> tuple[dict[str, MergedRoute], dict[str, float]]:
    """(route -> sums, totals: requests, window_s, process_cpu_s, workers, thread_tokens, probe_errors)."""
    routes: dict[str, MergedRoute] = {}
    totals = {"window_s": 0.0, "process_cpu_s": 0.0, "workers": 0.0, "probe_errors": 0.0, "thread_tokens": math.nan}
    for p in profiles:
        totals["window_s"] = max(totals["window_s"], float(p.get("window_s", 0.0)))
        totals["process_cpu_s"] += float(p.get("process_cpu_s", 0.0))
        totals["workers"] += float(p.get("workers", 1))
        totals["probe_errors"] += float(p.get("probe_errors", 0))
        if p.get("thread_tokens") is not None:
            totals["thread_tokens"] = float(p["thread_tokens"])
        for name, r in p["routes"].items():
            routes.setdefault(name, MergedRoute(str(r.get("handler", "sync")))).add(r)
    return routes, totals
