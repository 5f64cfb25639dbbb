"""`evaluate`: what today's deployment does at the scenario's peak, where it breaks, and why.

Per worker process the load is the peak rate split evenly over hosts x workers_per_host (uvicorn workers
share one listening socket; the kernel spreads connections roughly evenly). The stages are solved by
`sizing.model._worker.solve_worker`; end-to-end latency per class is the convolution of its waits and service
times (`sizing.model._latency`), and the overall latency is the mixture of the classes by share.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sizing._checks import check_real, check_type
from sizing.model._findings import findings_for
from sizing.model._latency import COARSE_GRID, FINE_GRID, SEARCH_GRID, mixture_quantile, mixture_quantiles
from sizing.model._results import Evaluation, Latency, Stage, StageName
from sizing.model._stall import stall_burst, stall_rps
from sizing.model._worker import WorkerSolution, solve_worker
from sizing.scenario._models import Deployment, Scenario

__all__ = [
    "evaluate",
    "latency_at",
    "max_rps",
    "missed_targets",
    "overall_p99",
    "slo_rps",
    "stages_at",
    "target_misses",
]

LATENCY_METHOD = (
    "sum of stage waits (G/G/c, exact Erlang C where both cv2 are 1) and service times, "
    "convolved numerically assuming independence"
)


_NONE3: tuple[float | None, float | None, float | None] = (None, None, None)


def _row(
    name: str,
    share: float,
    method: str,
    mean: float | None = None,
    q: tuple[float | None, float | None, float | None] = _NONE3,
) -> Latency:
    return Latency(name=name, share=share, mean_ms=mean, p50_ms=q[0], p95_ms=q[1], p99_ms=q[2], method=method)


def _latencies(scenario: Scenario, sol: WorkerSolution, grid: int = FINE_GRID) -> list[Latency]:
    eps = scenario.endpoints
    if not sol.stable:
        why = "unstable: a stage is past utilization 1"
        return [_row(e.name, e.share, why) for e in eps] + [_row("overall", 1.0, why)]
    shares = [e.share for e in eps]
    dists = [sol.latency(i, grid) for i in range(len(eps))]
    rows = [
        _row(e.name, e.share, LATENCY_METHOD, d.mean_ms, (d.quantile(0.5), d.quantile(0.95), d.quantile(0.99)))
        for e, d in zip(eps, dists, strict=True)
    ]
    mean = math.fsum(s * d.mean_ms for s, d in zip(shares, dists, strict=True))
    p50, p95, p99 = mixture_quantiles(dists, shares, (0.5, 0.95, 0.99))
    return [*rows, _row("overall", 1.0, LATENCY_METHOD + "; classes mixed by share", mean, (p50, p95, p99))]


def overall_p99(scenario: Scenario, sol: WorkerSolution, grid: int = FINE_GRID) -> float:
    if not sol.stable:
        return math.inf
    shares = [e.share for e in scenario.endpoints]
    return mixture_quantile([sol.latency(i, grid) for i in range(len(shares))], shares, 0.99)


def _cpu_bound_rps(scenario: Scenario, dep: Deployment) -> float:
    """Whole-service rate at which every worker's core is fully busy (an upper bound on max_rps)."""
    cpu_ms = math.fsum(e.share * e.cpu_ms for e in scenario.endpoints)
    return dep.workers * 1000.0 / cpu_ms


_INNER: tuple[StageName, ...] = ("cpu", "db_pool", "http_pool")
_ROOT_UTILIZATION = 0.99


def max_rps(scenario: Scenario, deployment: Deployment | None = None) -> tuple[float, StageName]:
    """The whole-service rate at which the first stage reaches utilization 1, and that stage."""
    dep = deployment or scenario.deployment
    hi = _cpu_bound_rps(scenario, dep)
    lo = 0.0
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        if solve_worker(scenario, mid, dep).stable:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * hi:
            break
    near = solve_worker(scenario, lo, dep) if lo > 0 else solve_worker(scenario, hi * 1e-6, dep)
    # The loop's and the tokens' holds include the waits for the core and the pools inside them, and those
    # grow as 1 / (1 - rho): near a saturated core the tokens reach utilization 1 a hair before it does
    # (1000 tokens, 2 ms of CPU: tokens at 0.9990 of the core). Name the inner stage then, not the tokens.
    inner = [s for n, s in near.stages.items() if n in _INNER and s.utilization >= _ROOT_UTILIZATION]
    if inner:
        return lo, max(inner, key=lambda s: s.utilization).name
    return lo, max(near.stages.values(), key=lambda s: s.utilization).name


def slo_rps(
    scenario: Scenario, deployment: Deployment | None = None, *, saturation_rps: float | None = None
) -> float | None:
    """The highest whole-service rate whose overall p99 meets `targets.latency_p99_ms`; None if no rate does."""
    dep = deployment or scenario.deployment
    top = saturation_rps if saturation_rps is not None else max_rps(scenario, dep)[0]
    target = scenario.targets.latency_p99_ms

    def excess(rps: float, grid: int) -> float:
        return overall_p99(scenario, solve_worker(scenario, rps, dep), grid) - target

    lo, hi = top * 1e-6, top
    if excess(lo, FINE_GRID) > 0:
        return None
    # Bisection on a coarse grid, then a check on the full grid (the two differ by well under 1% of the p99).
    lo = _bisect_slo(excess, lo, hi, SEARCH_GRID)
    while lo > top * 1e-6 and excess(lo, FINE_GRID) > 0:
        lo *= 0.995
    return lo


def _bisect_slo(excess: Callable[[float, int], float], lo: float, hi: float, grid: int) -> float:
    while hi - lo > 1e-3 * hi:
        mid = 0.5 * (lo + hi)
        if excess(mid, grid) <= 0:
            lo = mid
        else:
            hi = mid
    return lo


def stages_at(scenario: Scenario, rps: float, deployment: Deployment | None = None) -> list[Stage]:
    """Every stage per worker when the whole service receives `rps` (cheap: no latency, no saturation search)."""
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    rps = check_real("rps", rps, lo=0.0, lo_open=True)
    return [
        s.to_result() for s in solve_worker(scenario, rps, deployment or scenario.deployment).stages.values()
    ]


def latency_at(
    scenario: Scenario, rps: float, deployment: Deployment | None = None, *, coarse: bool = False
) -> Latency:
    """Overall latency when the whole service receives `rps` (no saturation search: cheap, for curves).

    `coarse=True` convolves on a grid half as fine (about twice as fast): percentiles within 0.5% of the
    full-grid ones (tested on the presets), plenty for a chart.
    """
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    rps = check_real("rps", rps, lo=0.0, lo_open=True)
    sol = solve_worker(scenario, rps, deployment or scenario.deployment)
    return _latencies(scenario, sol, COARSE_GRID if coarse else FINE_GRID)[-1]


def evaluate(
    scenario: Scenario, *, rps: float | None = None, deployment: Deployment | None = None
) -> Evaluation:
    """What `scenario.deployment` (or `deployment`) does at the peak rate (or at `rps`).

    Returns every stage's utilization and waits per worker, end-to-end latency per class and overall,
    the saturation rate and its bottleneck stage, the highest rate meeting the p99 target, and findings.
    """
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    dep = deployment or scenario.deployment
    _check_servable(scenario, dep)
    at = scenario.traffic.peak_rps if rps is None else check_real("rps", rps, lo=0.0, lo_open=True)
    sol = solve_worker(scenario, at, dep)
    latency = _latencies(scenario, sol)
    saturation, bottleneck = max_rps(scenario, dep)
    slo = slo_rps(scenario, dep, saturation_rps=saturation)
    stall = stall_rps(scenario, dep, saturation_rps=saturation)
    cpu = sol.stages["cpu"].utilization
    ev = Evaluation(
        rps=at,
        rps_per_worker=sol.rps_per_worker,
        stable=sol.stable,
        stages=[s.to_result() for s in sol.stages.values()],
        latency=latency,
        cpu_utilization_worker=cpu,
        cpu_utilization_host=cpu * dep.workers_per_host / dep.cores_per_host,
        fleet_db_connections=dep.fleet_db_connections,
        db_connection_budget=dep.db_connection_budget,
        max_rps=saturation,
        bottleneck=bottleneck,
        slo_rps=slo,
        headroom=saturation / at,
        stall_rps=stall,
        stall_burst=stall_burst(scenario, dep),
        meets_targets=False,
        findings=[],
    )
    findings = findings_for(scenario, dep, ev)
    p99 = ev.overall.p99_ms
    meets = not target_misses(scenario, dep, sol, math.inf if p99 is None else p99, ev.headroom)
    return ev.model_copy(update={"findings": findings, "meets_targets": meets})


def missed_targets(scenario: Scenario, deployment: Deployment | None = None) -> list[str]:
    """The targets `deployment` (default: the scenario's) misses at the peak, by field name; [] when none.

    The same test as `evaluate(...).meets_targets`, without the latency report and saturation search: the
    headroom target is checked as stability at min_headroom x the peak. A name is "stable" when a stage is
    past saturation, or a `targets` field (with the stage in brackets for pool waits), or
    "db_max_connections" when the fleet's pools exceed the database's budget.
    """
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    dep = deployment or scenario.deployment
    _check_servable(scenario, dep)
    return target_misses(scenario, dep, solve_worker(scenario, scenario.traffic.peak_rps, dep))


def target_misses(
    scenario: Scenario,
    dep: Deployment,
    sol: WorkerSolution,
    overall_p99_ms: float | None = None,
    headroom: float | None = None,
) -> list[str]:
    """The targets this solution misses (empty when it meets them all).

    The p99 is computed if not given; the headroom, if not given, is checked as stability at min_headroom
    times the solution's rate (the saturation rate is the supremum of the stable rates).
    """
    t = scenario.targets
    if not sol.stable:
        return ["stable"]
    misses = []
    st = sol.stages
    if st["cpu"].utilization > t.max_cpu_utilization + 1e-12:
        misses.append("max_cpu_utilization")
    if t.min_headroom > 1.0:
        if headroom is not None:
            short = t.short_of_headroom(headroom)
        else:
            short = not solve_worker(scenario, sol.rps_per_worker * dep.workers * t.min_headroom, dep).stable
        if short:
            misses.append("min_headroom")
    for name in ("thread_tokens", "db_pool", "http_pool"):
        if st[name].arrival_rps > 0 and st[name].wait_p99_ms > t.max_pool_wait_p99_ms:
            misses.append(f"max_pool_wait_p99_ms ({name})")
    if st["http_pool"].arrival_rps > 0 and st["http_pool"].p_wait > t.http_pool_exhaustion:
        misses.append("http_pool_exhaustion")
    if dep.fleet_db_connections > dep.db_connection_budget and any(e.uses_db for e in scenario.endpoints):
        misses.append("db_max_connections")
    p99 = overall_p99(scenario, sol) if overall_p99_ms is None else overall_p99_ms
    if p99 > t.latency_p99_ms:
        misses.append("latency_p99_ms")
    return misses


def _check_servable(scenario: Scenario, dep: Deployment) -> None:
    db_users = [e.name for e in scenario.endpoints if e.uses_db and e.share > 0]
    if db_users and dep.db_pool_size + dep.db_max_overflow == 0:
        raise ValueError(
            f"deployment.db_pool_size + db_max_overflow is 0 but {db_users[0]!r} holds a DB connection: "
            "give a pool of at least 1"
        )
