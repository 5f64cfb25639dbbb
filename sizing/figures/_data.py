"""The numbers behind each figure, computed from the model (pure data: picklable, cacheable, testable).

Every figure is drawn from one of these records, so a notebook, the app and the Markdown report all show
the same numbers, and a test can compare a plotted point with the model call that produced it.
Unbounded values (an unstable stage) are None, never inf or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sizing._checks import check_choice, check_int
from sizing.model._evaluate import latency_at, max_rps, stages_at
from sizing.model._results import Stage
from sizing.model._stall import stall_rps
from sizing.scenario._models import Deployment, Scenario

__all__ = [
    "BlockingSweep",
    "BudgetBar",
    "Heatmap",
    "LatencyCurve",
    "PointEstimate",
    "WaitSweep",
    "blocking_sweep",
    "budget_bars",
    "count_grid",
    "latency_curve",
    "latency_curves",
    "sensitivity_grid",
    "sweep_values",
    "wait_sweep",
]

# Past this much of the saturation rate the curve is drawn with an extra point, so the knee shows even
# when the common rate grid steps over it.
_NEAR_SATURATION = 0.97


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyCurve:
    """Overall latency of one deployment against the whole service's request rate."""

    label: str
    rates: tuple[float, ...]
    mean_ms: tuple[float | None, ...]
    p99_ms: tuple[float | None, ...]
    saturation_rps: float
    bottleneck: str
    stall_rps: float | None = None  # sessions held across token passes: see Evaluation.stall_rps



@dataclass(frozen=True, slots=True)
class PointEstimate:
    """Latency at one rate from outside the analytic model (a measurement or a simulation), in ms.

    `ci` holds (low, high) confidence bounds by statistic name ("mean", "p50", "p95", "p99") when known.
    """

    rps: float
    mean_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    ci: tuple[tuple[str, float, float], ...] = ()

    def bounds(self, stat: str) -> tuple[float, float] | None:
        for name, lo, hi in self.ci:
            if name == stat:
                return lo, hi
        return None


@dataclass(frozen=True, slots=True)
class WaitSweep:
    """p99 wait of one stage at the peak rate as one count (tokens or DB pool) varies, the rest fixed."""

    field: str
    stage: str
    values: tuple[int, ...]
    wait_p99_ms: tuple[float | None, ...]
    used: bool


@dataclass(frozen=True, slots=True)
class Heatmap:
    """A metric over thread tokens x DB pool size at the peak rate (rows: pool sizes, columns: tokens)."""

    metric: str
    tokens: tuple[int, ...]
    pools: tuple[int, ...]
    values: tuple[tuple[float | None, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockingSweep:
    """Overall latency as a blocking call of growing duration is added to every `async def` class."""

    durations_ms: tuple[float, ...]
    mean_ms: tuple[float | None, ...]
    p99_ms: tuple[float | None, ...]
    loop_utilization: tuple[float, ...]
    saturation_ms: float | None
    async_share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetBar:
    """One deployment's fleet DB connections against the database server's limit."""

    label: str
    hosts: int
    workers_per_host: int
    pool_size: int
    max_overflow: int
    reserved: int
    max_connections: int

    @property
    def pooled(self) -> int:
        return self.hosts * self.workers_per_host * self.pool_size

    @property
    def overflow(self) -> int:
        return self.hosts * self.workers_per_host * self.max_overflow

    @property
    def total(self) -> int:
        return self.pooled + self.overflow

    @property
    def over_budget(self) -> bool:
        return self.total > self.max_connections - self.reserved


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def latency_curve(
    scenario: Scenario,
    deployment: Deployment,
    *,
    label: str,
    saturation: tuple[float, str] | None = None,
    points: int = 25,
) -> LatencyCurve:
    """Mean and p99 latency of one deployment at `points` rates up to 1.1x the larger of the peak and its
    saturation rate (plus one point just below saturation, where the knee is); None past saturation.

    `saturation` is (max_rps, bottleneck) when already known (an Evaluation has it): it saves the search.
    The curve carries `stall_rps` when the deployment's sessions can stall a worker.
    """
    check_int("points", points, lo=2, hi=10_000)
    sat, bottleneck = saturation if saturation is not None else max_rps(scenario, deployment)
    top = 1.1 * max(scenario.traffic.peak_rps, sat)
    grid = {top * (i + 1) / points for i in range(points)}
    if sat > 0:
        grid.add(_NEAR_SATURATION * sat)
    rates = sorted(grid)
    means: list[float | None] = []
    p99s: list[float | None] = []
    for r in rates:
        if r >= sat:
            means.append(None)
            p99s.append(None)
            continue
        lat = latency_at(scenario, r, deployment, coarse=True)
        means.append(_finite(lat.mean_ms))
        p99s.append(_finite(lat.p99_ms))
    return LatencyCurve(
        label=label,
        rates=tuple(rates),
        mean_ms=tuple(means),
        p99_ms=tuple(p99s),
        saturation_rps=sat,
        bottleneck=bottleneck,
        stall_rps=stall_rps(scenario, deployment, saturation_rps=sat) if sat > 0 else None,
    )


def latency_curves(
    scenario: Scenario, deployments: Mapping[str, Deployment], *, points: int = 25
) -> list[LatencyCurve]:
    """`latency_curve` for each deployment, labelled by its key."""
    return [latency_curve(scenario, d, label=label, points=points) for label, d in deployments.items()]


def sweep_values(*anchors: int, lowest: int = 1, count: int = 12) -> tuple[int, ...]:
    """About `count` integers from `lowest` to twice the largest anchor, dense at the low end, with the
    anchors."""
    top = max(2 * max(anchors, default=1), lowest + 3, 6)
    if top - lowest + 1 <= count:
        base = set(range(lowest, top + 1))
    else:
        ratio = (top / max(lowest, 1)) ** (1.0 / (count - 1))
        base = {max(lowest, round(max(lowest, 1) * ratio**i)) for i in range(count)}
    return tuple(sorted(base | {a for a in anchors if a >= lowest}))


def _stage(stages: Sequence[Stage], name: str) -> Stage:
    return next(s for s in stages if s.name == name)


def wait_sweep(scenario: Scenario, deployment: Deployment, field: str, values: Sequence[int]) -> WaitSweep:
    """p99 wait of the stage `field` sizes (thread_tokens or db_pool_size) at the peak, for each value."""
    stage = {"thread_tokens": "thread_tokens", "db_pool_size": "db_pool"}[
        check_choice("field", field, ("thread_tokens", "db_pool_size"))
    ]
    peak = scenario.traffic.peak_rps
    waits: list[float | None] = []
    used = False
    for v in values:
        st = _stage(stages_at(scenario, peak, deployment.model_copy(update={field: v})), stage)
        used = used or st.arrival_rps > 0
        waits.append(_finite(st.wait_p99_ms))
    return WaitSweep(field, stage, tuple(values), tuple(waits), used)


def count_grid(center: int, other: int | None = None, *, n: int = 6, lowest: int = 1) -> tuple[int, ...]:
    """n distinct integers around `center` (about 1/4x to 2.5x), with `center` and `other` when possible."""
    center = max(center, lowest)
    factors = (0.25, 0.5, 0.75, 1.0, 1.5, 2.5)
    values = {max(lowest, round(center * f)) for f in factors}
    values.add(center)
    if other is not None and other >= lowest:
        values.add(other)
    step = 1
    while len(values) < n:
        values.add(center + step)
        step += 1
    ordered = sorted(values)
    keep = {center, other if other is not None else center} & set(ordered)
    while len(ordered) > n:
        # Drop the value closest to a neighbour (not an anchor), so the grid stays spread out.
        gaps = [
            (
                min(
                    ordered[i] - ordered[i - 1] if i > 0 else math.inf,
                    ordered[i + 1] - ordered[i] if i + 1 < len(ordered) else math.inf,
                ),
                i,
            )
            for i in range(len(ordered))
            if ordered[i] not in keep
        ]
        ordered.pop(min(gaps)[1])
    return tuple(ordered)


def sensitivity_grid(
    scenario: Scenario,
    deployment: Deployment,
    tokens: Sequence[int],
    pools: Sequence[int],
    metric: str = "p99",
) -> Heatmap:
    """`metric` ("p99": overall p99 latency in ms at the peak; "max_rps": saturation rate) per cell."""
    check_choice("metric", metric, ("p99", "max_rps"))
    peak = scenario.traffic.peak_rps
    rows = []
    for pool in pools:
        row: list[float | None] = []
        for tok in tokens:
            dep = deployment.model_copy(update={"thread_tokens": tok, "db_pool_size": pool})
            if metric == "p99":
                row.append(_finite(latency_at(scenario, peak, dep, coarse=True).p99_ms))
            else:
                row.append(_finite(max_rps(scenario, dep)[0]))
        rows.append(tuple(row))
    return Heatmap(metric, tuple(tokens), tuple(pools), tuple(rows))


def _with_blocking(scenario: Scenario, ms: float) -> Scenario:
    endpoints = [
        e.model_copy(update={"blocking_in_async_ms": ms}) if e.handler == "async" else e
        for e in scenario.endpoints
    ]
    return scenario.model_copy(update={"endpoints": endpoints})


def blocking_sweep(scenario: Scenario, deployment: Deployment, *, points: int = 9) -> BlockingSweep:
    """What a blocking call of d ms inside every `async def` handler does at the peak, d from 0 to past
    the duration that saturates the event loop (found from the loop's utilization, linear in d)."""
    async_share = math.fsum(e.share for e in scenario.endpoints if e.handler == "async")
    peak = scenario.traffic.peak_rps
    base = _with_blocking(scenario, 0.0)
    if async_share <= 0:
        return BlockingSweep(
            durations_ms=(),
            mean_ms=(),
            p99_ms=(),
            loop_utilization=(),
            saturation_ms=None,
            async_share=0.0,
        )
    loop = _stage(stages_at(base, peak, deployment), "event_loop")
    # An `async def` request blocks once, in its first loop turn (a response turn holds nothing), so
    # utilization(d) = utilization(0) + requests/ms per worker x share x d, linear in d; it is 1 at d_sat.
    per_ms = peak / deployment.workers / 1000.0 * async_share
    d_sat = (1.0 - loop.utilization) / per_ms if per_ms > 0 else math.inf
    # Sweep to a quarter past saturation (capped at 10 s), or to 1 s when the loop can never saturate.
    top = min(1.25 * d_sat, 10_000.0) if math.isfinite(d_sat) and d_sat > 0 else 1000.0
    durations = [top * i / (points - 1) for i in range(points)]
    means: list[float | None] = []
    p99s: list[float | None] = []
    utils = [loop.utilization + per_ms * d for d in durations]
    for d in durations:
        s = _with_blocking(scenario, d)
        if d >= d_sat:
            means.append(None)
            p99s.append(None)
            continue
        lat = latency_at(s, peak, deployment, coarse=True)
        means.append(_finite(lat.mean_ms))
        p99s.append(_finite(lat.p99_ms))
    sat = d_sat if math.isfinite(d_sat) and d_sat > 0 else None
    return BlockingSweep(
        durations_ms=tuple(durations),
        mean_ms=tuple(means),
        p99_ms=tuple(p99s),
        loop_utilization=tuple(utils),
        saturation_ms=sat,
        async_share=async_share,
    )


def budget_bars(deployments: Mapping[str, Deployment]) -> list[BudgetBar]:
    return [
        BudgetBar(
            label=label,
            hosts=d.hosts,
            workers_per_host=d.workers_per_host,
            pool_size=d.db_pool_size,
            max_overflow=d.db_max_overflow,
            reserved=d.db_reserved_connections,
            max_connections=d.db_max_connections,
        )
        for label, d in deployments.items()
    ]
