"""Findings: what is wrong or risky in a deployment, each with the fix, in the operator's words."""

from __future__ import annotations

from sizing._gil import livelock_rps
from sizing._lifecycle import request_phases
from sizing._results import Evaluation, Finding, Severity, Stage
from sizing._scenario import Deployment, Scenario
from sizing._stages import useful_token_cap

__all__ = ["findings_for"]

_STAGE_WORDS = {
    "event_loop": "the event loop",
    "cpu": "the worker's CPU (GIL)",
    "thread_tokens": "the AnyIO thread tokens",
    "db_pool": "the DB connection pool",
    "http_pool": "the httpx connection pool",
}
_HTTPX_POOL_TIMEOUT_MS = 5000.0
_SQLALCHEMY_POOL_TIMEOUT_MS = 30000.0


def _f(code: str, severity: Severity, message: str) -> Finding:
    return Finding(code=code, severity=severity, message=message)


def findings_for(scenario: Scenario, dep: Deployment, ev: Evaluation) -> list[Finding]:
    out: list[Finding] = []
    t = scenario.targets
    stages = {s.name: s for s in ev.stages}
    tokens, db, http, loop = (
        stages["thread_tokens"],
        stages["db_pool"],
        stages["http_pool"],
        stages["event_loop"],
    )

    for s in ev.stages:
        if not s.stable:
            out.append(
                _f(
                    "unstable_stage",
                    "critical",
                    f"{_STAGE_WORDS[s.name]} is past saturation at {ev.rps:.4g} rps (utilization {s.utilization:.2f}): "
                    f"its queue grows without bound. The service saturates at {ev.max_rps:.4g} rps "
                    f"(bottleneck: {_STAGE_WORDS[ev.bottleneck]}); {_fix_for(s.name)}",
                )
            )

    if not stages["cpu"].stable:
        per_worker = [(ev.rps_per_worker * e.share, request_phases(e, scenario.runtime)) for e in scenario.endpoints]
        done = livelock_rps(per_worker)
        if done is not None:
            out.append(
                _f(
                    "receive_livelock",
                    "critical",
                    f"past saturation a worker that admits every request does less, not the same: its event loop "
                    f"parses each arrival before any thread runs, so at {ev.rps:.4g} rps offered the threads keep "
                    f"only what the loop leaves of the core and the service completes about "
                    f"{done * dep.workers:.4g} rps, against {ev.max_rps:.4g} at saturation (receive livelock; "
                    "the backlog and its latency grow until clients time out). Refuse the excess at the door: "
                    "uvicorn --limit-concurrency or a per-worker limit at the load balancer, sized a few times "
                    "what a worker holds at saturation",
                )
            )

    overall = ev.overall
    if overall.p99_ms is not None and overall.p99_ms > t.latency_p99_ms:
        out.append(
            _f(
                "latency_target_missed",
                "critical",
                f"predicted p99 {overall.p99_ms:.1f} ms is above the target {t.latency_p99_ms:g} ms at {ev.rps:.4g} rps"
                + (f"; the target holds up to {ev.slo_rps:.4g} rps" if ev.slo_rps else "; no rate meets it")
                + ": run recommend for the settings that meet it",
            )
        )

    if ev.cpu_utilization_worker > t.max_cpu_utilization:
        out.append(
            _f(
                "gil_bound_worker",
                "warning" if ev.cpu_utilization_worker < 1 else "critical",
                f"each worker's core is {ev.cpu_utilization_worker:.0%} busy (target {t.max_cpu_utilization:.0%}): a "
                "worker runs Python on one core at a time (GIL), so more thread tokens cannot help; add workers "
                f"(up to {dep.cores_per_host} per host) or hosts",
            )
        )

    if dep.workers_per_host > dep.cores_per_host:
        out.append(
            _f(
                "workers_exceed_cores",
                "warning",
                f"{dep.workers_per_host} workers per host on {dep.cores_per_host} cores: the extra workers share cores "
                f"and add memory and connections without adding CPU; use at most {dep.cores_per_host}",
            )
        )

    db_conns = dep.db_pool_size + dep.db_max_overflow
    cap = useful_token_cap(scenario, dep, ev.rps) if any(
        e.handler == "sync" and e.uses_db for e in scenario.endpoints
    ) else None
    if cap is not None and dep.thread_tokens > cap:
        late = not db.stable or (db.wait_p99_ms is not None and db.wait_p99_ms > t.max_pool_wait_p99_ms)
        severity: Severity = "critical" if late else ("warning" if db.p_wait > 0.01 else "info")
        out.append(
            _f(
                "threads_beyond_db_pool",
                severity,
                f"{dep.thread_tokens} thread tokens, but {db_conns} DB connections plus the threads busy outside "
                f"the DB use at most {cap} per worker: the other {dep.thread_tokens - cap} can only wait for a "
                f"connection while holding a token (probability of waiting for a connection {db.p_wait:.1%}); "
                f"lower thread tokens to {cap} or size the pool with them",
            )
        )

    if ev.fleet_db_connections > ev.db_connection_budget:
        out.append(
            _f(
                "fleet_db_over_budget",
                "critical",
                f"{dep.hosts} hosts x {dep.workers_per_host} workers x {db_conns} connections = "
                f"{ev.fleet_db_connections} possible DB connections, above the server's budget of "
                f"{ev.db_connection_budget} (max_connections {dep.db_max_connections} - reserved "
                f"{dep.db_reserved_connections}): lower pool_size/max_overflow per worker, or put PgBouncer in "
                "transaction mode in front of the database",
            )
        )

    blockers = [e for e in scenario.endpoints if e.blocking_in_async_ms > 0 and e.share > 0]
    if blockers:
        names = ", ".join(repr(e.name) for e in blockers)
        wait = loop.wait_mean_ms
        out.append(
            _f(
                "event_loop_blocked",
                "critical" if not loop.stable or loop.utilization > 0.5 else "warning",
                f"blocking calls inside `async def` ({names}) hold the event loop for every request of the process: "
                f"loop utilization {loop.utilization:.0%}"
                + (f", mean loop wait {wait:.1f} ms per request" if wait is not None else "")
                + "; make the call async (httpx.AsyncClient, an async driver), or make the handler `def` so it runs "
                "in the threadpool",
            )
        )

    if dep.thread_tokens == 40 and tokens.servers == 40 and (not tokens.stable or tokens.utilization > 0.85):
        out.append(
            _f(
                "default_tokens_saturate",
                "critical" if not tokens.stable else "warning",
                f"the default 40 thread tokens are {tokens.utilization:.0%} used at the peak of {ev.rps:.4g} rps: set "
                "`total_tokens` in the lifespan (see the snippets) to the recommended value",
            )
        )

    if http.arrival_rps > 0 and http.p_wait > t.http_pool_exhaustion:
        sev: Severity = "critical" if not http.stable or (http.wait_p99_ms or 0) > _HTTPX_POOL_TIMEOUT_MS else "warning"
        out.append(
            _f(
                "http_pool_exhaustion",
                sev,
                f"an upstream call finds the httpx pool ({http.servers} connections per worker) full with probability "
                f"{http.p_wait:.2%} (target {t.http_pool_exhaustion:.2%}); a wait past 5 s raises httpx.PoolTimeout: "
                "raise Limits(max_connections=...)",
            )
        )

    for s in (db, http, tokens):
        if s.stable and s.wait_p99_ms is not None and s.wait_p99_ms > t.max_pool_wait_p99_ms:
            out.append(
                _f(
                    "pool_wait_target_missed",
                    "warning",
                    f"p99 wait for {_STAGE_WORDS[s.name]} is {s.wait_p99_ms:.1f} ms, above the target "
                    f"{t.max_pool_wait_p99_ms:g} ms: {_fix_for(s.name)}",
                )
            )
    if db.stable and db.wait_p99_ms is not None and db.wait_p99_ms > _SQLALCHEMY_POOL_TIMEOUT_MS:
        out.append(
            _f(
                "db_pool_timeouts",
                "critical",
                f"the p99 wait for a DB connection ({db.wait_p99_ms / 1000:.1f} s) passes SQLAlchemy's pool_timeout "
                "of 30 s: requests will fail with TimeoutError; enlarge the pool or cut the hold time",
            )
        )

    if ev.stable and t.short_of_headroom(ev.headroom):
        out.append(
            _f(
                "low_headroom",
                "warning",
                f"only {ev.headroom:.2f}x headroom (target min_headroom {t.min_headroom:g}x): the service "
                f"saturates at {ev.max_rps:.4g} rps ({_STAGE_WORDS[ev.bottleneck]}), the peak is {ev.rps:.4g} "
                f"rps; {_fix_for(ev.bottleneck)}",
            )
        )

    out.extend(_approximation_notes(scenario, ev))
    return out


def _fix_for(stage: str) -> str:
    return {
        "event_loop": "remove blocking calls from `async def` handlers or add workers",
        "cpu": "add workers (one per core) or hosts, or cut CPU per request",
        "thread_tokens": "raise thread tokens (total_tokens) if the DB pool and CPU can take it, or add workers",
        "db_pool": "raise pool_size, shorten the time a connection is held, or add PgBouncer",
        "http_pool": "raise httpx Limits(max_connections)",
    }[stage]


def _approximation_notes(scenario: Scenario, ev: Evaluation) -> list[Finding]:
    """Where the simulator showed the model's p99 low by more than 10% (tests/data/sim_vs_model.md)."""
    tokens: Stage | None = ev.stage("thread_tokens")
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
        _f(
            "approximation_uncertain",
            "info",
            f"thread tokens {tokens.utilization:.0%} busy with heavy-tailed holds (cv2 {worst:g}): against the "
            "simulator the model's p99 is up to 28% low here (its mean within 7%); check the tail with "
            "`python -m sizing simulate`",
        )
    ]
