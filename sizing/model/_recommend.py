"""`recommend`: the smallest deployment that meets the targets at peak, each number with its reason.

Order of decisions, each made with the same stage solver `evaluate` uses:
1. Workers: the fewest whose core (GIL) and event loop stay under `max_cpu_utilization` and are still stable
   at `min_headroom` times the peak; hosts are the fewest that hold them at one worker per core
   (`cores_per_host` is the user's).
2. Per worker, for a wait budget b (starting at `max_pool_wait_p99_ms`): the smallest httpx pool whose chance
   of being full is under `http_pool_exhaustion` and whose p99 wait is under b, the smallest DB pool whose p99
   wait is under b, then the smallest thread-token count whose p99 wait is under b (token holds include the
   DB and HTTP waits, so tokens are sized after the pools); each also stable at `min_headroom` times the peak,
   so no stage saturates before the traffic has grown that much.
3. If the end-to-end p99 misses its target, b is tightened by bisection until it holds; if it cannot hold
   even with no queueing, the target is impossible and the reason says what would fix it.
4. A minimality pass: every number is lowered while all targets still hold, so one less of any resource
   misses a target.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sizing._checks import check_type
from sizing.model._evaluate import evaluate, overall_p99, target_misses
from sizing.model._results import Evaluation, Finding, FindingCode, Recommendation, Setting, Stage, StageName
from sizing.model._snippets import snippets_for
from sizing.model._stall import stall_burst, stall_rps
from sizing.model._worker import WorkerSolution, solve_worker, useful_token_cap
from sizing.scenario._lifecycle import request_phases
from sizing.scenario._models import Deployment, Scenario

__all__ = ["recommend"]

_MAX_SERVERS = 100_000


def _roomy(dep: Deployment) -> Deployment:
    """`dep` with tokens and pools too large to queue: only CPU and the event loop can then wait."""
    return dep.model_copy(
        update={"thread_tokens": _MAX_SERVERS, "db_pool_size": _MAX_SERVERS, "http_max_connections": _MAX_SERVERS}
    )


def _min_int(ok: Callable[[int], bool], lo: int, hi: int = _MAX_SERVERS) -> int | None:
    """Smallest n in [lo, hi] with ok(n), for ok monotone (False... then True...); None if ok(hi) fails."""
    if ok(lo):
        return lo
    step, prev = 1, lo
    while True:
        cand = min(prev + step, hi)
        if ok(cand):
            lo, hi = prev + 1, cand
            break
        if cand >= hi:
            return None
        prev, step = cand, step * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _loop_ms_per_request(scenario: Scenario) -> float:
    total = 0.0
    for e in scenario.endpoints:
        for phase in request_phases(e, scenario.runtime):
            if phase.holds == "loop":
                total += e.share * phase.hold_ms
    return total


def _uses(scenario: Scenario) -> tuple[bool, bool, bool]:
    eps = scenario.endpoints
    db = any(e.uses_db and e.share > 0 for e in eps)
    http = any(e.upstream_calls > 0 and e.upstream_latency_ms > 0 and e.share > 0 for e in eps)
    tok = any(e.token_passes > 0 and e.share > 0 for e in eps)
    return db, http, tok


class _Sizer:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.t = scenario.targets
        self.peak = scenario.traffic.peak_rps
        self.uses_db, self.uses_http, self.uses_tokens = _uses(scenario)
        unlimited = scenario.deployment.model_copy(update={"db_session_max_concurrency": None})
        # Sessions held across token passes can stall a worker: every deployment this sizes gets FastAPI's
        # max_concurrency on the session dependency, one slot per connection, which rules the stall out.
        self.sessions = stall_burst(scenario, unlimited) is not None

    def fixed(self, dep: Deployment) -> Deployment:
        """`dep` with the stall fix, when the scenario needs one."""
        if not self.sessions:
            return dep
        return dep.model_copy(update={"db_session_max_concurrency": dep.db_connections_per_worker})

    def solve(self, dep: Deployment) -> WorkerSolution:
        return solve_worker(self.s, self.peak, self.fixed(dep))

    def at_headroom(self, dep: Deployment) -> WorkerSolution:
        """`dep` at min_headroom times the peak: a stage unstable there saturates too close to the peak."""
        return solve_worker(self.s, self.peak * self.t.min_headroom, self.fixed(dep))

    def size_workers(self, base: Deployment) -> Deployment:
        cpu_ms = math.fsum(e.share * e.cpu_ms for e in self.s.endpoints)
        busy = self.peak * max(cpu_ms, _loop_ms_per_request(self.s)) / 1000.0
        need = max(1, math.ceil(busy / self.t.max_cpu_utilization - 1e-9))

        def fits(workers: int) -> Deployment:
            hosts = math.ceil(workers / base.cores_per_host)
            per_host = math.ceil(workers / hosts)
            return base.model_copy(update={"hosts": hosts, "workers_per_host": per_host})

        def ok(workers: int) -> bool:
            # Pools and tokens are sized afterwards: solve with room enough that only CPU and loop decide.
            sol = self.solve(_roomy(fits(workers)))
            cpu, loop = sol.stages["cpu"], sol.stages["event_loop"]
            limit = self.t.max_cpu_utilization + 1e-12
            if not (cpu.stable and loop.stable and cpu.utilization <= limit and loop.utilization <= limit):
                return False
            far = self.at_headroom(_roomy(fits(workers))).stages
            return far["cpu"].stable and far["event_loop"].stable

        found = _min_int(ok, need)
        if found is None:
            raise _ImpossibleError("cpu", "no number of workers keeps the event loop under the CPU target")
        return fits(found)

    def size_pools(self, dep: Deployment, budget_ms: float) -> Deployment | None:
        """Pools and tokens for a per-stage p99 wait budget; None if a stage cannot meet it."""
        t = self.t
        if self.uses_http:

            def http_ok(n: int) -> bool:
                d = dep.model_copy(update={"http_max_connections": n})
                st = self.solve(d).stages["http_pool"]
                if not (st.stable and st.p_wait <= t.http_pool_exhaustion and st.wait_p99_ms <= budget_ms):
                    return False
                return self.at_headroom(d).stages["http_pool"].stable

            n_http = _min_int(http_ok, 1)
            if n_http is None:
                return None
            dep = dep.model_copy(update={"http_max_connections": n_http})
        if self.uses_db:

            def db_ok(n: int) -> bool:
                d = dep.model_copy(
                    update={"db_pool_size": n, "db_max_overflow": 0, "thread_tokens": _MAX_SERVERS}
                )
                sol, far = self.solve(d), self.at_headroom(d)
                st = sol.stages["db_pool"]
                if self.sessions and not (sol.stable and far.stable):
                    return False  # the session slots (one per connection) queue too
                return st.stable and st.wait_p99_ms <= budget_ms and far.stages["db_pool"].stable

            n_db = _min_int(db_ok, 1)
            if n_db is None:
                return None
            dep = dep.model_copy(update={"db_pool_size": n_db, "db_max_overflow": 0})
        if self.uses_tokens:

            def tok_ok(n: int) -> bool:
                d = dep.model_copy(update={"thread_tokens": n})
                sol = self.solve(d)
                st = sol.stages["thread_tokens"]
                return sol.stable and st.wait_p99_ms <= budget_ms and self.at_headroom(d).stable

            n_tok = _min_int(tok_ok, 1)
            if n_tok is None:
                return None
            dep = dep.model_copy(update={"thread_tokens": n_tok})
        return dep

    def meets(self, dep: Deployment) -> bool:
        """Every target at peak except the fleet DB budget (reported as impossible, not traded for latency)."""
        misses = target_misses(self.s, self.fixed(dep), self.solve(dep))
        return not [m for m in misses if m != "db_max_connections"]


class _ImpossibleError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def recommend(scenario: Scenario) -> Recommendation:
    """The smallest hosts, workers, thread tokens, DB pool and httpx pool meeting the targets at peak."""
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    z = _Sizer(scenario)
    t = scenario.targets
    base = scenario.deployment
    try:
        dep = z.size_workers(base)
    except _ImpossibleError as exc:
        return _infeasible(base, "cpu_impossible", str(exc))

    floor = _latency_floor(scenario, dep)
    if floor > t.latency_p99_ms:
        return _infeasible(
            dep,
            "latency_target_impossible",
            f"the p99 target {t.latency_p99_ms:g} ms is below what the requests take with no queueing at "
            f"all ({floor:.1f} ms p99 of their own CPU and I/O): no pool or thread setting can meet it; cut "
            "upstream latency or DB hold time, make blocking calls async, or drop token passes "
            "(`def` dependencies, response_model on `def` endpoints)",
        )

    sized = _pools_within_budget(z, dep, t.max_pool_wait_p99_ms)
    if sized is None:
        return _infeasible(
            dep,
            "latency_target_impossible",
            f"no pool or token setting meets p99 {t.latency_p99_ms:g} ms at {z.peak:.4g} rps with "
            f"{dep.workers} workers: the CPU and event-loop waits alone take it past the target; add workers "
            "or hosts (lower max_cpu_utilization), or cut CPU per request",
        )

    final = z.fixed(_minimise(z, sized))
    ev = evaluate(scenario, deployment=final)
    settings = _reasons(scenario, base, final, ev)
    impossible = _over_db_budget(final)
    return Recommendation(
        feasible=not impossible and ev.meets_targets,
        settings=settings,
        evaluation=ev,
        impossible=impossible,
        snippets=snippets_for(final),
    )


def _pools_within_budget(z: _Sizer, dep: Deployment, budget: float) -> Deployment | None:
    """Pools and tokens sized to the pool-wait budget; when that misses the end-to-end p99, the largest
    tighter budget that meets it (bisection), or None when even a zero budget cannot."""
    sized = z.size_pools(dep, budget)
    if sized is not None and z.meets(sized):
        return sized
    lo, hi = 0.0, budget
    best: Deployment | None = None
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        cand = z.size_pools(dep, mid)
        if cand is not None and z.meets(cand):
            best, lo = cand, mid
        else:
            hi = mid
        if hi - lo <= 1e-3 * max(budget, 1.0):
            break
    if best is None:
        cand = z.size_pools(dep, 0.0)
        best = cand if cand is not None and z.meets(cand) else None
    return best


def _over_db_budget(final: Deployment) -> list[Finding]:
    """The fleet needs more DB connections than the server allows: no per-worker setting fixes that."""
    if final.fleet_db_connections <= final.db_connection_budget:
        return []
    need = final.fleet_db_connections + final.db_reserved_connections
    return [
        Finding(
            code="fleet_db_over_budget",
            severity="critical",
            message=f"{final.workers} workers x {final.db_pool_size} connections = {final.fleet_db_connections} "
            f"DB connections are needed at peak but the server allows {final.db_connection_budget}: raise "
            f"max_connections to at least {need}, put PgBouncer in transaction mode in front of the database "
            "(client connections then share few server connections), or shorten the time a connection is held",
        )
    ]


def _latency_floor(scenario: Scenario, dep: Deployment) -> float:
    """Overall p99 with unlimited pools and tokens at a vanishing rate: the requests' own time."""
    return overall_p99(scenario, solve_worker(scenario, 1e-9 * dep.workers, _roomy(dep)))


def _minimise(z: _Sizer, dep: Deployment) -> Deployment:
    """Lower each number while every target still holds (feasibility is monotone in each of them)."""
    fields = [
        ("thread_tokens", z.uses_tokens),
        ("db_pool_size", z.uses_db),
        ("http_max_connections", z.uses_http),
    ]
    for _ in range(3):
        changed = False
        for name, used in fields:
            if not used:
                continue
            current = getattr(dep, name)

            def ok(n: int, name: str = name, base: Deployment = dep) -> bool:
                return z.meets(base.model_copy(update={name: n}))

            if current <= 1 or not ok(current - 1):
                continue  # already minimal: the common case, one check
            best = _min_int(ok, 1, current - 1)
            if best is not None and best < current:
                dep = dep.model_copy(update={name: best})
                changed = True
        if not changed:
            break
    return dep


@dataclass(frozen=True, slots=True)
class _Sized:
    """A recommended deployment and its evaluation: what every reason reads."""

    scenario: Scenario
    dep: Deployment
    ev: Evaluation

    def stage(self, name: StageName) -> Stage:
        found = self.ev.stage(name)
        assert found is not None
        return found

    def margin(self, what: str) -> str:
        """The reason of a number that the headroom target set, not the latency targets."""
        t, ev = self.scenario.targets, self.ev
        return (
            f"the smallest {what} that keeps the {t.min_headroom:g}x headroom target (saturation at {ev.max_rps:.4g} "
            f"rps, the peak is {ev.rps:.4g}): one less would meet the latency targets but saturate sooner"
        )

    def by_headroom(self, name: str) -> bool:
        return _held_by_headroom(self.scenario, self.dep, name)


def _reasons(scenario: Scenario, base: Deployment, dep: Deployment, ev: Evaluation) -> list[Setting]:
    """Every recommended number with the constraint that decided it."""
    sized = _Sized(scenario, dep, ev)
    uses_db, uses_http, uses_tokens = _uses(scenario)
    return [
        *_worker_reasons(sized),
        _token_reason(sized, uses_tokens, uses_db),
        *_db_reasons(sized, uses_db),
        _http_reason(sized, uses_http),
        *_session_reason(sized),
    ]


def _session_reason(sized: _Sized) -> list[Setting]:
    limit = sized.dep.db_session_max_concurrency
    if limit is None:
        return []
    unfixed = sized.dep.model_copy(update={"db_session_max_concurrency": None})
    at_risk = stall_rps(sized.scenario, unfixed, saturation_rps=sized.ev.max_rps)
    risk = (
        f"without it the fleet would expect a first stall within a day above {at_risk:.4g} rps"
        if at_risk is not None
        else "without it a worker can stall"
    )
    return [
        Setting(
            name="db_session_max_concurrency",
            value=limit,
            reason=f"Depends(get_db, max_concurrency={limit}) on the session dependency (FastAPI >= 0.163), one "
            f"slot per connection: a session holds its connection across token passes, and {risk} (or at "
            f"{sized.dep.thread_tokens + sized.dep.db_connections_per_worker} requests at once). With no more "
            "sessions than connections no checkout waits while holding a token, so the stall cannot happen; the "
            "other requests wait on the event loop without a thread. Chosen over a session per pass or async "
            "routes, which change code, and over a smaller token count, which makes the stall likelier",
        )
    ]


def _worker_reasons(sized: _Sized) -> list[Setting]:
    dep, ev, t = sized.dep, sized.ev, sized.scenario.targets
    cpu = sized.stage("cpu")
    return [
        Setting(
            name="hosts",
            value=dep.hosts,
            reason=f"{dep.workers} workers are needed and a host has {dep.cores_per_host} cores (one worker per core)",
        ),
        Setting(
            name="workers_per_host",
            value=dep.workers_per_host,
            reason=(
                f"keeps each worker's core at {cpu.utilization:.0%} busy, under the {t.max_cpu_utilization:.0%} target "
                f"at {ev.rps:.4g} rps ({ev.rps_per_worker:.4g} rps per worker), and below saturation at "
                f"{t.min_headroom:g}x that rate"
            ),
        ),
    ]


def _token_reason(sized: _Sized, uses_tokens: bool, uses_db: bool) -> Setting:
    dep, ev = sized.dep, sized.ev
    if not uses_tokens:
        return Setting(
            name="thread_tokens",
            value=dep.thread_tokens,
            reason="no `def` handler or dependency: the threadpool is idle, left as given",
        )
    tok = sized.stage("thread_tokens")
    why = (
        f"smallest count whose p99 token wait ({tok.wait_p99_ms or 0:.1f} ms) and end-to-end p99 "
        f"({ev.overall.p99_ms or 0:.1f} ms) meet the targets; tokens are held {tok.hold_ms:.1f} ms per pass"
    )
    if sized.by_headroom("thread_tokens"):
        why = sized.margin("count") + f"; p99 token wait {tok.wait_p99_ms or 0:.1f} ms, held {tok.hold_ms:.1f} ms per pass"
    cap = useful_token_cap(sized.scenario, dep, sized.scenario.traffic.peak_rps)
    if uses_db and cap is not None:
        why += (
            f"; threads past {cap} would only queue for the {dep.db_pool_size} DB connections"
            if dep.thread_tokens <= cap
            else f"; above the {cap} the DB pool absorbs: the extra threads wait for connections"
        )
    return Setting(name="thread_tokens", value=dep.thread_tokens, reason=why)


def _db_reasons(sized: _Sized, uses_db: bool) -> list[Setting]:
    dep = sized.dep
    if not uses_db:
        return [
            Setting(name="db_pool_size", value=dep.db_pool_size, reason="no endpoint uses the DB: as given"),
            Setting(name="db_max_overflow", value=dep.db_max_overflow, reason="no endpoint uses the DB"),
        ]
    db = sized.stage("db_pool")
    decided = (
        sized.margin("pool")
        if sized.by_headroom("db_pool_size")
        else f"smallest pool whose p99 wait for a connection ({db.wait_p99_ms or 0:.1f} ms) meets the targets"
    )
    return [
        Setting(
            name="db_pool_size",
            value=dep.db_pool_size,
            reason=decided
            + f"; {db.utilization * db.servers:.1f} connections busy on average; max_overflow 0 keeps the "
            f"fleet total fixed at {dep.fleet_db_connections} of {dep.db_connection_budget}",
        ),
        Setting(name="db_max_overflow", value=0, reason="a fixed pool makes the fleet budget exact"),
    ]


def _http_reason(sized: _Sized, uses_http: bool) -> Setting:
    dep, t = sized.dep, sized.scenario.targets
    if not uses_http:
        return Setting(name="http_max_connections", value=dep.http_max_connections, reason="no upstream calls: as given")
    http = sized.stage("http_pool")
    decided = (
        sized.margin("pool") + f" (found full by {http.p_wait:.3%} of upstream calls)"
        if sized.by_headroom("http_max_connections")
        else f"smallest pool found full by at most {t.http_pool_exhaustion:.2%} of upstream calls "
        f"(now {http.p_wait:.3%}) with the p99 wait within target"
    )
    return Setting(
        name="http_max_connections",
        value=dep.http_max_connections,
        reason=decided + f"; {http.utilization * http.servers:.1f} calls in flight on average",
    )


def _held_by_headroom(scenario: Scenario, dep: Deployment, name: str) -> bool:
    """One less of `name` misses the headroom target and nothing else: the margin set it, not latency."""
    n = getattr(dep, name)
    if n <= 1:
        return False
    less = dep.model_copy(update={name: n - 1})
    misses = target_misses(scenario, less, solve_worker(scenario, scenario.traffic.peak_rps, less))
    return [m for m in misses if m != "db_max_connections"] == ["min_headroom"]


def _infeasible(dep: Deployment, code: FindingCode, message: str) -> Recommendation:
    settings = [
        Setting(name=n, value=getattr(dep, n), reason="not sized: see impossible")
        for n in (
            "hosts",
            "workers_per_host",
            "thread_tokens",
            "db_pool_size",
            "db_max_overflow",
            "http_max_connections",
        )
    ]
    why = [Finding(code=code, severity="critical", message=message)]
    return Recommendation(feasible=False, settings=settings, evaluation=None, impossible=why, snippets={})
