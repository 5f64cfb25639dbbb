"""Pure arithmetic of a validation run: nominal stage capacities, load points and the CPU burn plan.

Everything here follows `request_phases` and nothing else, so the load points are placed independently of
the model under test (a model bug cannot move the points it is checked at).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sizing.scenario._lifecycle import Phase, request_phases
from sizing.scenario._models import Endpoint, Scenario

__all__ = [
    "STAGES",
    "LoadPoint",
    "burn_plan",
    "nominal_capacities",
    "nominal_latency_s",
    "parse_points",
    "resolve_points",
    "warmup_s",
]

STAGES = (
    "thread_tokens",
    "event_loop",
    "cpu",
    "db_pool_sync",
    "db_pool_async",
    "http_pool_sync",
    "http_pool_async",
)

# Beyond this a single loopback generator process cannot be trusted; the ceiling check refines it per run.
MAX_POINT_RPS = 20_000.0
MAX_FRACTION = 5.0
_RPS_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*rps\s*$")


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """An offered rate for the whole service; `fraction` is of the reference stage's capacity if given so."""

    rps: float
    fraction: float | None
    label: str


def _demand_ms(endpoint: Endpoint, phases: tuple[Phase, ...], stage: str) -> float:
    """Mean busy time one request puts on `stage` (servers x seconds per request, in ms)."""
    if stage == "thread_tokens":
        return sum(p.hold_ms for p in phases if p.holds == "token")
    if stage == "event_loop":
        # Loop turns, and an async handler's driver turns inside its DB hold.
        driver = sum(sum(s.held_cpu_ms) for p in phases if p.holds is None for s in p.steps)
        return sum(p.hold_ms for p in phases if p.holds == "loop") + driver
    if stage == "cpu":
        return sum(s.mean_ms if s.kind == "cpu" else sum(s.held_cpu_ms) for p in phases for s in p.steps)
    kind, handler = stage.split("_pool_")
    if endpoint.handler != handler:
        return 0.0
    step_kind = "db" if kind == "db" else "http"
    return sum(s.hold_ms for p in phases for s in p.steps if s.kind == step_kind)


def nominal_capacities(scenario: Scenario) -> dict[str, float]:
    """Whole-service rate (rps) at which each stage reaches utilization 1, from the phases alone.

    The emulating server keeps separate pools for `def` and `async def` handlers (a sync and an async
    engine are separate pools in a real app), hence two DB and two HTTP stages. Stages no request uses
    are left out.
    """
    dep = scenario.deployment
    demand = dict.fromkeys(STAGES, 0.0)
    for ep in scenario.endpoints:
        phases = request_phases(ep, scenario.runtime)
        for stage in STAGES:
            demand[stage] += ep.share * _demand_ms(ep, phases, stage)
    servers = {
        "thread_tokens": float(dep.thread_tokens),
        "event_loop": 1.0,
        # One GIL per worker; workers beyond the cores share them.
        "cpu": min(dep.workers_per_host, dep.cores_per_host) / dep.workers_per_host,
        "db_pool_sync": float(dep.db_connections_per_worker),
        "db_pool_async": float(dep.db_connections_per_worker),
        "http_pool_sync": float(dep.http_max_connections),
        "http_pool_async": float(dep.http_max_connections),
    }
    out: dict[str, float] = {}
    for stage, d in demand.items():
        if d <= 0.0:
            continue
        if servers[stage] <= 0.0:
            out[stage] = 0.0
            continue
        out[stage] = servers[stage] / d * 1000.0 * dep.workers
    return out


def parse_points(text: str) -> list[tuple[float, bool]]:
    """`0.5,0.8,1.2` (fractions of the reference capacity) or `300rps,640rps`; (value, is_rps) pairs."""
    items = [t for t in (s.strip() for s in text.split(",")) if t]
    if not items:
        raise ValueError(f"--points: give at least one point, got {text!r}")
    out: list[tuple[float, bool]] = []
    for item in items:
        m = _RPS_RE.match(item)
        if m:
            value = float(m.group(1))
            if not (0.0 < value <= MAX_POINT_RPS):
                raise ValueError(f"--points: rate {item!r} must be in (0, {MAX_POINT_RPS:g}] rps")
            out.append((value, True))
            continue
        try:
            value = float(item)
        except ValueError:
            raise ValueError(
                f"--points: {item!r} is neither a fraction like 0.8 nor a rate like 640rps"
            ) from None
        if not (math.isfinite(value) and 0.0 < value <= MAX_FRACTION):
            raise ValueError(f"--points: fraction {item!r} must be in (0, {MAX_FRACTION:g}] of the capacity")
        out.append((value, False))
    return out


def resolve_points(
    scenario: Scenario, points: list[tuple[float, bool]], stage: str
) -> tuple[float, list[LoadPoint]]:
    """The reference capacity (rps) and the points as rates; `stage` 'bottleneck' = the lowest capacity."""
    caps = nominal_capacities(scenario)
    if stage == "bottleneck":
        ref = min(caps.values())
    elif stage in caps:
        ref = caps[stage]
    else:
        raise ValueError(
            f"--stage: {stage!r} is not used by this scenario; valid: bottleneck, {', '.join(sorted(caps))}"
        )
    out: list[LoadPoint] = []
    for value, is_rps in points:
        if is_rps:
            out.append(LoadPoint(rps=value, fraction=None, label=f"{value:g} rps"))
        else:
            rps = value * ref
            if rps > MAX_POINT_RPS:
                raise ValueError(
                    f"--points: {value:g} x {ref:.0f} rps = {rps:.0f} rps exceeds {MAX_POINT_RPS:g} rps"
                )
            out.append(LoadPoint(rps=rps, fraction=value, label=f"{value:g}x"))
    return ref, out


def burn_plan(endpoint: Endpoint, framework_cpu_ms: float, handoff_ms: float = 0.0) -> list[float]:
    """CPU (ms) the server burns in each phase of `request_phases`, so a request's total CPU is `cpu_ms`.

    `cpu_ms` includes the framework, so the measured framework CPU is taken off the loop turn first (where
    parsing and routing run) and whatever is left of it off the token passes evenly. When the framework
    alone costs more than `cpu_ms`, every burn is 0 and the emulated request costs the framework's CPU.
    The framework CPU as measured includes the driver's CPU held inside DB steps (`db_cpu_ms`, burned by
    the server in the hold, not by the plan), which the phases' CPU steps do not carry.
    """
    phases = request_phases(endpoint)
    cpu = [sum(s.mean_ms for s in p.steps if s.kind == "cpu") for p in phases]
    left = max(framework_cpu_ms - endpoint.db_cpu_ms, 0.0)
    order = [i for i, p in enumerate(phases) if p.holds == "loop"]
    rest = [i for i, p in enumerate(phases) if p.holds != "loop"]
    for i in order:
        take = min(cpu[i], left)
        cpu[i] -= take
        left -= take
    while left > 1e-12 and rest:
        live = [i for i in rest if cpu[i] > 1e-12]
        if not live:
            break
        each = left / len(live)
        for i in live:
            take = min(cpu[i], each)
            cpu[i] -= take
            left -= take
    return [max(c, 0.0) for c in cpu]


def nominal_latency_s(scenario: Scenario) -> float:
    """A request's time in the worker from its phases alone (no waits), averaged over the classes (s)."""
    return (
        sum(e.share * sum(p.hold_ms for p in request_phases(e, scenario.runtime)) for e in scenario.endpoints)
        / 1000.0
    )


def warmup_s(scenario: Scenario, seconds: float) -> float:
    """The start of a point that is not measured: twenty request lifetimes, at least 1 s, at most a quarter."""
    return min(max(1.0, 20 * nominal_latency_s(scenario)), 0.25 * seconds)
