"""`calibrate`: probe profiles become a scenario, with where each number came from."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from sizing._base import Result
from sizing._checks import check_real
from sizing.calibration._profiles import MergedRoute, merge_profiles, read_profile
from sizing.scenario._io import InputError
from sizing.scenario._models import Runtime, Scenario

__all__ = ["Calibration", "calibrate"]

# Fewer requests than this in a route make its numbers a guess; calibrate says so.
THIN_ROUTE_REQUESTS = 200
_SKIPPED = ("(unmatched)", "(other)")


class Calibration(Result):
    """A scenario measured from profiles; `provenance` says, per field, measured, estimated (how) or default."""

    scenario: Scenario
    provenance: dict[str, str] = Field(description="Field path -> 'measured: ...', 'estimated: ...' or 'default'")
    warnings: list[str] = Field(description="What makes a number less trustworthy, one sentence each")


Source = str | Path | Mapping[str, Any]


def calibrate(profiles: Sequence[Source], *, rps: float | None = None, peak_factor: float = 1.0) -> Calibration:
    """The scenario the profiles describe: one endpoint per route template, shares by request count.

    Profiles are taken as the workers of one service over the same window (their requests add up). `rps`
    overrides the measured rate (the whole service's requests over the window); `peak_factor` is the
    scenario's.
    """
    if isinstance(profiles, (str, bytes, Path, Mapping)) or not isinstance(profiles, Sequence) or not profiles:
        raise TypeError("profiles must be a non-empty list of profile files, JSON texts or mappings")
    data = [read_profile(p, f"profiles[{i}]") for i, p in enumerate(profiles)]
    if rps is not None:
        check_real("rps", rps, lo=0.0, lo_open=True)
    check_real("peak_factor", peak_factor, lo=1.0, hi=100.0)
    routes, totals = merge_profiles(data)
    used = {name: r for name, r in routes.items() if name not in _SKIPPED and r.requests > 0}
    if not used:
        raise InputError("profiles: no route has any request; profile the service under some load first")
    prov: dict[str, str] = {}
    warnings: list[str] = []
    n_total = sum(r.requests for r in used.values())
    loop_ms = _loop_ms_per_request(used, totals, n_total, prov, warnings)
    endpoints = [_endpoint(i, name, r, n_total, loop_ms, prov, warnings) for i, (name, r) in enumerate(sorted(used.items()))]
    window = totals["window_s"]
    if rps is None:
        if window <= 0:
            raise InputError("profiles: no measuring window (window_s 0); give rps")
        rps = n_total / window
        prov["traffic.rps"] = f"measured: {n_total} requests over {window:.1f} s"
    else:
        prov["traffic.rps"] = "given"
    deployment: dict[str, Any] = {}
    if not math.isnan(totals["thread_tokens"]):
        deployment["thread_tokens"] = int(totals["thread_tokens"])
        prov["deployment.thread_tokens"] = "measured: AnyIO's default limiter"
    for name in ("db_pool_size", "db_max_overflow", "workers_per_host", "hosts"):
        prov.setdefault(f"deployment.{name}", "default")
    if totals["probe_errors"] > 0:
        warnings.append(f"the probe counted {int(totals['probe_errors'])} errors of its own; some requests went unmeasured")
    scenario = Scenario.model_validate({
        "traffic": {"rps": rps, "peak_factor": peak_factor},
        "endpoints": endpoints,
        "deployment": deployment,
    })
    return Calibration(scenario=scenario, provenance=prov, warnings=warnings)


def _loop_ms_per_request(
    used: Mapping[str, MergedRoute], totals: Mapping[str, float], n_total: int, prov: dict[str, str],
    warnings: list[str],
) -> float:
    """CPU per request outside the threads: the process's CPU less the threads', spread over the requests."""
    process_ms = totals["process_cpu_s"] * 1000.0
    threads_ms = math.fsum(r.thread_cpu_ms for r in used.values())
    loop = max(process_ms - threads_ms, 0.0) / n_total
    prov["loop CPU"] = (
        "estimated: the process's CPU less the threads', over all requests, the same for every route (the "
        "process's idle CPU and the probe's own are in it)"
    )
    if len(used) > 1:
        warnings.append(
            "one load level: the event loop's CPU is split evenly over the routes; profiles at two loads would "
            "let a regression tell the routes apart"
        )
    return loop


def _endpoint(
    i: int, name: str, r: MergedRoute, n_total: int, loop_ms: float, prov: dict[str, str], warnings: list[str]
) -> dict[str, Any]:
    key = f"endpoints[{i}]"
    n = r.requests
    if n < THIN_ROUTE_REQUESTS:
        warnings.append(f"{name}: {n} requests, fewer than {THIN_ROUTE_REQUESTS}: its numbers are rough")
    passes = r.passes / n
    thread_cpu = r.thread_cpu_ms / n
    handoff = Runtime().token_handoff_ms
    e: dict[str, Any] = {"name": name[:80], "share": n / n_total, "handler": r.handler}
    prov[f"{key}.share"] = f"measured: {n} of {n_total} requests"
    prov[f"{key}.handler"] = "measured: the endpoint function's kind"
    if r.handler == "sync":
        e["sync_dependencies"] = max(round(passes) - 1, 0)
        prov[f"{key}.sync_dependencies"] = (
            f"measured: {passes:.2f} thread passes per request, less the body (response validation is counted "
            "as a dependency pass: the two cost the same)"
        )
    else:
        e["sync_dependencies"] = round(passes)
        prov[f"{key}.sync_dependencies"] = f"measured: {passes:.2f} thread passes per request"
    cpu = loop_ms + thread_cpu
    e["cpu_ms"] = cpu
    prov[f"{key}.cpu_ms"] = "estimated: the threads' CPU measured per request, plus the loop CPU estimate"
    if round(passes) > 0 and thread_cpu > 0 and loop_ms > 0:
        e["loop_cpu_ms"] = loop_ms
        prov[f"{key}.loop_cpu_ms"] = "estimated: the loop CPU estimate"
    db_hold = r.db_hold_ms / n
    if db_hold > 0:
        e["db_hold_ms"] = db_hold
        prov[f"{key}.db_hold_ms"] = f"measured: connection hold per request ({r.db_requests} of {n} used one)"
        if r.db_requests > 1 and r.db_hold_ms > 0:
            mean = r.db_hold_ms / r.db_requests
            e["db_hold_cv2"] = min(max(r.db_hold_sq / r.db_requests / (mean * mean) - 1.0, 0.0), 100.0)
            prov[f"{key}.db_hold_cv2"] = "estimated: from the hold histogram's buckets"
        _scope(e, key, r, prov)
    waits = r.token_wait_ms / n
    other = r.response_ms / n - cpu - db_hold - waits - round(passes) * handoff
    if r.handler == "sync":
        other = min(other, max(r.thread_ms / n - thread_cpu - db_hold, 0.0))
    if other > 0.05:
        e["other_io_ms"] = other
        prov[f"{key}.other_io_ms"] = "estimated: the response time less CPU, DB hold, token waits and hand-offs"
    return e


def _scope(e: dict[str, Any], key: str, r: MergedRoute, prov: dict[str, str]) -> None:
    """A connection mostly checked out in one pass and returned in another: a session held across passes."""
    if r.handler != "sync" or r.db_requests == 0 or r.db_across * 2 < r.db_requests:
        prov[f"{key}.db_connection_scope"] = "measured: checked out and in within one pass"
        return
    first = max(r.first_pass.items(), key=lambda kv: kv[1])[0] if r.first_pass else 0
    passes = e["sync_dependencies"] + 1
    if not 1 <= first <= passes or e["sync_dependencies"] < 1:
        prov[f"{key}.db_connection_scope"] = f"measured: held across passes, but first used in pass {first}: left 'pass'"
        return
    e["db_connection_scope"] = "request"
    e["db_first_use_pass"] = first
    prov[f"{key}.db_connection_scope"] = (
        f"measured: {r.db_across} of {r.db_requests} requests returned the connection in another pass than the one "
        "that took it"
    )
    prov[f"{key}.db_first_use_pass"] = f"measured: the first checkout's pass (most requests: {first})"
