"""Findings: what is wrong or risky in a deployment, each with the fix, in the operator's words."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sizing.model._cpu import livelock_rps
from sizing.model._results import Evaluation, Finding, Severity, Stage
from sizing.model._worker import useful_token_cap
from sizing.scenario._lifecycle import request_phases
from sizing.scenario._models import Deployment, Scenario, Targets

__all__ = ["findings_for"]

_STAGE_WORDS = {
    "event_loop": "the event loop",
    "cpu": "the worker's CPU (GIL)",
    "thread_tokens": "the AnyIO thread tokens",
    "db_pool": "the DB connection pool",
    "http_pool": "the httpx connection pool",
}
_HTTPX_POOL_TIMEOUT_MS = 5000.0


@dataclass(frozen=True, slots=True)
class _Case:
    """What every rule reads: the scenario, the deployment evaluated and the evaluation, stages by name."""

    scenario: Scenario
    dep: Deployment
    ev: Evaluation
    stages: dict[str, Stage]

    @property
    def targets(self) -> Targets:
        return self.scenario.targets


Rule = Callable[[_Case], Iterable[Finding]]


def findings_for(scenario: Scenario, dep: Deployment, ev: Evaluation) -> list[Finding]:
    """Every finding of `ev` (the evaluation of `dep`), in the order the rules are listed."""
    case = _Case(scenario, dep, ev, {s.name: s for s in ev.stages})
    return [finding for rule in _RULES for finding in rule(case)]


def _pool_token_deadlock(case: _Case) -> Iterator[Finding]:
    ev, headroom = case.ev, case.targets.min_headroom
    if ev.stall_rps is None or ev.rps * headroom <= ev.stall_rps:
        return
    held = [e.name for e in case.scenario.endpoints if e.holds_connection_across_passes and e.share > 0]
    above = ev.rps > ev.stall_rps
    yield Finding(
        code="pool_token_deadlock",
        severity="critical" if above else "warning",
        message=f"{', '.join(repr(n) for n in held)} hold{'s' if len(held) == 1 else ''} a DB connection from "
        f"its first query to the end of the request (a `def` session dependency), across token passes. At "
        f"{ev.rps:.4g} rps the fleet can stall: a worker stalls when every thread token is held by a request "
        f"waiting for a connection and every connection by a request waiting for a token, until pool_timeout "
        f"({case.dep.db_pool_timeout_ms / 1000:g} s) fails the waits with 500s. The fleet expects a first stall "
        f"within a day above {ev.stall_rps:.4g} rps"
        + ("" if above else f" (less than min_headroom {headroom:g} x the peak)")
        + f"; {ev.stall_burst} requests arriving at once stall a worker whatever the rate. Fix: give the "
        "session dependency FastAPI's Depends(get_db, max_concurrency=N) with N at most pool_size + "
        "max_overflow (the others wait without a thread), or open a session per pass (or per query), or make "
        "the DB routes `async def` on an async engine. A smaller token count makes it worse",
    )


def _unstable_stages(case: _Case) -> Iterator[Finding]:
    ev = case.ev
    for s in ev.stages:
        if not s.stable:
            yield Finding(
                code="unstable_stage",
                severity="critical",
                message=f"{_STAGE_WORDS[s.name]} is past saturation at {ev.rps:.4g} rps (utilization "
                f"{s.utilization:.2f}): its queue grows without bound. The service saturates at {ev.max_rps:.4g} "
                f"rps (bottleneck: {_STAGE_WORDS[ev.bottleneck]}); {_fix_for(s.name)}",
            )


def _receive_livelock(case: _Case) -> Iterator[Finding]:
    ev, scenario = case.ev, case.scenario
    if case.stages["cpu"].stable:
        return
    per_worker = [(ev.rps_per_worker * e.share, request_phases(e, scenario.runtime)) for e in scenario.endpoints]
    done = livelock_rps(per_worker)
    if done is None:
        return
    yield Finding(
        code="receive_livelock",
        severity="critical",
        message="past saturation a worker that admits every request does less, not the same: its event loop "
        f"parses each arrival before any thread runs, so at {ev.rps:.4g} rps offered the threads keep "
        "only what the loop leaves of the core and the service completes about "
        f"{done * case.dep.workers:.4g} rps, against {ev.max_rps:.4g} at saturation (receive livelock; "
        "the backlog and its latency grow until clients time out). Refuse the excess at the door: "
        "uvicorn --limit-concurrency or a per-worker limit at the load balancer, sized a few times "
        "what a worker holds at saturation",
    )


def _latency_target_missed(case: _Case) -> Iterator[Finding]:
    ev, t = case.ev, case.targets
    p99 = ev.overall.p99_ms
    if p99 is None or p99 <= t.latency_p99_ms:
        return
    holds = f"; the target holds up to {ev.slo_rps:.4g} rps" if ev.slo_rps else "; no rate meets it"
    yield Finding(
        code="latency_target_missed",
        severity="critical",
        message=f"predicted p99 {p99:.1f} ms is above the target {t.latency_p99_ms:g} ms at {ev.rps:.4g} rps"
        f"{holds}: run recommend for the settings that meet it",
    )


def _gil_bound_worker(case: _Case) -> Iterator[Finding]:
    ev, t = case.ev, case.targets
    if ev.cpu_utilization_worker <= t.max_cpu_utilization:
        return
    yield Finding(
        code="gil_bound_worker",
        severity="warning" if ev.cpu_utilization_worker < 1 else "critical",
        message=f"each worker's core is {ev.cpu_utilization_worker:.0%} busy (target {t.max_cpu_utilization:.0%}): "
        "a worker runs Python on one core at a time (GIL), so more thread tokens cannot help; add workers "
        f"(up to {case.dep.cores_per_host} per host) or hosts",
    )


def _workers_exceed_cores(case: _Case) -> Iterator[Finding]:
    dep = case.dep
    if dep.workers_per_host <= dep.cores_per_host:
        return
    yield Finding(
        code="workers_exceed_cores",
        severity="warning",
        message=f"{dep.workers_per_host} workers per host on {dep.cores_per_host} cores: the extra workers share "
        f"cores and add memory and connections without adding CPU; use at most {dep.cores_per_host}",
    )


def _threads_beyond_db_pool(case: _Case) -> Iterator[Finding]:
    scenario, dep, ev, t = case.scenario, case.dep, case.ev, case.targets
    if not any(e.handler == "sync" and e.uses_db for e in scenario.endpoints):
        return
    cap = useful_token_cap(scenario, dep, ev.rps)
    if cap is None or dep.thread_tokens <= cap:
        return
    db = case.stages["db_pool"]
    late = not db.stable or (db.wait_p99_ms is not None and db.wait_p99_ms > t.max_pool_wait_p99_ms)
    severity: Severity = "critical" if late else ("warning" if db.p_wait > 0.01 else "info")
    yield Finding(
        code="threads_beyond_db_pool",
        severity=severity,
        message=f"{dep.thread_tokens} thread tokens, but {dep.db_connections_per_worker} DB connections plus the "
        f"threads busy outside the DB use at most {cap} per worker: the other {dep.thread_tokens - cap} can "
        "only wait for a connection while holding a token (probability of waiting for a connection "
        f"{db.p_wait:.1%}); lower thread tokens to {cap} or size the pool with them",
    )


def _fleet_db_over_budget(case: _Case) -> Iterator[Finding]:
    dep, ev = case.dep, case.ev
    if ev.fleet_db_connections <= ev.db_connection_budget:
        return
    yield Finding(
        code="fleet_db_over_budget",
        severity="critical",
        message=f"{dep.hosts} hosts x {dep.workers_per_host} workers x {dep.db_connections_per_worker} "
        f"connections = {ev.fleet_db_connections} possible DB connections, above the server's budget of "
        f"{ev.db_connection_budget} (max_connections {dep.db_max_connections} - reserved "
        f"{dep.db_reserved_connections}): lower pool_size/max_overflow per worker, or put PgBouncer in "
        "transaction mode in front of the database",
    )


def _event_loop_blocked(case: _Case) -> Iterator[Finding]:
    blockers = [e for e in case.scenario.endpoints if e.blocking_in_async_ms > 0 and e.share > 0]
    if not blockers:
        return
    loop = case.stages["event_loop"]
    names = ", ".join(repr(e.name) for e in blockers)
    wait = "" if loop.wait_mean_ms is None else f", mean loop wait {loop.wait_mean_ms:.1f} ms per request"
    yield Finding(
        code="event_loop_blocked",
        severity="critical" if not loop.stable or loop.utilization > 0.5 else "warning",
        message=f"blocking calls inside `async def` ({names}) hold the event loop for every request of the "
        f"process: loop utilization {loop.utilization:.0%}{wait}; make the call async (httpx.AsyncClient, an "
        "async driver), or make the handler `def` so it runs in the threadpool",
    )


def _default_tokens_saturate(case: _Case) -> Iterator[Finding]:
    tokens = case.stages["thread_tokens"]
    if not (case.dep.thread_tokens == 40 and tokens.servers == 40):
        return
    if tokens.stable and tokens.utilization <= 0.85:
        return
    yield Finding(
        code="default_tokens_saturate",
        severity="critical" if not tokens.stable else "warning",
        message=f"the default 40 thread tokens are {tokens.utilization:.0%} used at the peak of {case.ev.rps:.4g} "
        "rps: set `total_tokens` in the lifespan (see the snippets) to the recommended value",
    )


def _http_pool_exhaustion(case: _Case) -> Iterator[Finding]:
    http, t = case.stages["http_pool"], case.targets
    if http.arrival_rps <= 0 or http.p_wait <= t.http_pool_exhaustion:
        return
    late = not http.stable or (http.wait_p99_ms or 0) > _HTTPX_POOL_TIMEOUT_MS
    yield Finding(
        code="http_pool_exhaustion",
        severity="critical" if late else "warning",
        message=f"an upstream call finds the httpx pool ({http.servers} connections per worker) full with "
        f"probability {http.p_wait:.2%} (target {t.http_pool_exhaustion:.2%}); a wait past 5 s raises "
        "httpx.PoolTimeout: raise Limits(max_connections=...)",
    )


def _pool_waits(case: _Case) -> Iterator[Finding]:
    t = case.targets
    for name in ("db_pool", "http_pool", "thread_tokens"):
        s = case.stages[name]
        if s.stable and s.wait_p99_ms is not None and s.wait_p99_ms > t.max_pool_wait_p99_ms:
            yield Finding(
                code="pool_wait_target_missed",
                severity="warning",
                message=f"p99 wait for {_STAGE_WORDS[s.name]} is {s.wait_p99_ms:.1f} ms, above the target "
                f"{t.max_pool_wait_p99_ms:g} ms: {_fix_for(s.name)}",
            )
    db, timeout_ms = case.stages["db_pool"], case.dep.db_pool_timeout_ms
    if db.stable and db.wait_p99_ms is not None and db.wait_p99_ms > timeout_ms:
        yield Finding(
            code="db_pool_timeouts",
            severity="critical",
            message=f"the p99 wait for a DB connection ({db.wait_p99_ms / 1000:.1f} s) passes SQLAlchemy's "
            f"pool_timeout of {timeout_ms / 1000:g} s: requests will fail with TimeoutError; enlarge the pool or "
            "cut the hold time",
        )


def _low_headroom(case: _Case) -> Iterator[Finding]:
    ev, t = case.ev, case.targets
    if not (ev.stable and t.short_of_headroom(ev.headroom)):
        return
    yield Finding(
        code="low_headroom",
        severity="warning",
        message=f"only {ev.headroom:.2f}x headroom (target min_headroom {t.min_headroom:g}x): the service "
        f"saturates at {ev.max_rps:.4g} rps ({_STAGE_WORDS[ev.bottleneck]}), the peak is {ev.rps:.4g} "
        f"rps; {_fix_for(ev.bottleneck)}",
    )


def _fix_for(stage: str) -> str:
    return {
        "event_loop": "remove blocking calls from `async def` handlers or add workers",
        "cpu": "add workers (one per core) or hosts, or cut CPU per request",
        "thread_tokens": "raise thread tokens (total_tokens) if the DB pool and CPU can take it, or add workers",
        "db_pool": "raise pool_size, shorten the time a connection is held, or add PgBouncer",
        "http_pool": "raise httpx Limits(max_connections)",
    }[stage]


def _approximation_uncertain(case: _Case) -> list[Finding]:
    """Where the simulator showed the model's p99 low by more than 10% (tests/data/sim_vs_model.md)."""
    scenario = case.scenario
    tokens: Stage | None = case.ev.stage("thread_tokens")
    worst = max(
        max(e.db_hold_cv2_effective, e.upstream_latency_cv2_effective, e.other_io_cv2_effective)
        for e in scenario.endpoints
        if e.token_passes > 0
    ) if any(e.token_passes > 0 for e in scenario.endpoints) else 0.0
    if tokens is None or not tokens.stable:
        return []
    if tokens.utilization < 0.8 or worst < 1.0:
        return []
    return [
        Finding(
            code="approximation_uncertain",
            severity="info",
            message=f"thread tokens {tokens.utilization:.0%} busy with heavy-tailed holds (cv2 {worst:g}): "
            "against the simulator the model's p99 is up to 28% low here (its mean within 7%); check the tail "
            "with `python -m sizing simulate`",
        )
    ]


# In the order findings are reported.
_RULES: tuple[Rule, ...] = (
    _unstable_stages,
    _pool_token_deadlock,
    _receive_livelock,
    _latency_target_missed,
    _gil_bound_worker,
    _workers_exceed_cores,
    _threads_beyond_db_pool,
    _fleet_db_over_budget,
    _event_loop_blocked,
    _default_tokens_saturate,
    _http_pool_exhaustion,
    _pool_waits,
    _low_headroom,
    _approximation_uncertain,
)
