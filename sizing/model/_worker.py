"""The queues inside one worker process, solved at a given request rate.

Stages, in the order they are solved (each later one depends on the earlier ones' waits):
1. `cpu`: the process's one core (the GIL), a single FIFO server visited by every `cpu` step.
2. `db_pool` and `http_pool`: c = pool size (+ overflow), visited by every `db` / `http` step.
3. `event_loop`: a single server held by every request's loop turn, whose hold includes the CPU wait and
   any blocking call inside an `async def` handler.
4. `thread_tokens`: c = total_tokens, visited once per token pass; a pass holds its token through its CPU
   wait, its DB and HTTP pool waits (nested holding) and its I/O, plus the hand-off. The queue is solved per
   request (all its token time as one job) and a request waits before its first pass and after its longest
   pass only (see `pays_full_wait`); the stage is reported per pass.
Each stage is a G/G/c queue (`sizing.ggc`: exact Erlang C when both cv2 are 1) whose hold time is the mixture
of what its visits hold; the arrival variability is the traffic's arrival_cv2 at every stage (an
approximation: passes and splits change it inside the process).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sizing.model._cpu import (
    bare_token_wait,
    busy_others_share,
    cpu_segments,
    gc_stall,
    gil_moments,
    gil_waits,
)
from sizing.model._holds import HeldWaits, phase_moments, stage_waits, wait_var
from sizing.model._latency import FINE_GRID, LatencyDistribution, Service, Stall, Wait
from sizing.model._results import StageName
from sizing.model._sessions import session_slots, sessions_cap_db, span
from sizing.model._stage_queue import IDLE, StageSolution, Visits, solve_queue
from sizing.model._token_waits import (
    pays_full_wait,
    per_visit,
    post_wait_scale,
    scaled_wait,
    token_wait_pieces,
)
from sizing.queueing._little import poisson_pool_size
from sizing.scenario._lifecycle import Phase, before_response, request_phases
from sizing.scenario._models import Deployment, Scenario

__all__ = ["StageSolution", "WorkerSolution", "solve_worker", "useful_token_cap"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSolution:
    """All stages of one worker at one per-worker rate; each class's latency on demand.

    Most solves only need the stages (saturation and sizing searches), so the latency pieces of a class are
    put together only when its latency is asked for.
    """

    rps_per_worker: float
    stages: dict[StageName, StageSolution]
    _phases: list[tuple[Phase, ...]] = field(repr=False)
    _loop_cpu_wait: Stall = field(repr=False)
    _token_job: StageSolution = field(repr=False)
    _post_scale: float = field(repr=False)
    _gc_stall: Stall | None = field(repr=False, default=None)
    # The waits of a driver's CPU inside an `async def` handler's DB step: the loop, then its turn on the core.
    _held_loop: tuple[Wait | Stall, ...] = field(repr=False, default=())
    # FastAPI's max_concurrency on the session dependency: the wait for a session slot, per class (None: no
    # slot taken), and whether that queue is stable.
    _session_waits: tuple[Wait | None, ...] = field(repr=False, default=())
    _sessions_stable: bool = field(repr=False, default=True)

    @property
    def stable(self) -> bool:
        return self._sessions_stable and all(s.stable for s in self.stages.values())

    def latency(self, index: int, grid: int = FINE_GRID) -> LatencyDistribution:
        phases = before_response(self._phases[index])
        token_waits = token_wait_pieces(self._token_job, phases, self._post_scale)
        slot = self._session_waits[index] if self._session_waits else None
        if slot is not None and slot.p_wait > 0:
            token_waits = [slot, *token_waits]
        shift, waits, services = _latency_pieces(phases, self.stages, self._loop_cpu_wait, token_waits, self._held_loop)
        stalls = [self._gc_stall] * gil_moments(phases) if self._gc_stall is not None else []
        return LatencyDistribution(shift, [*waits, *stalls], services, grid)


Classes = list[tuple[float, tuple[Phase, ...]]]  # per class: its rate per worker and its phases


def solve_worker(
    scenario: Scenario, rps_total: float, deployment: Deployment | None = None
) -> WorkerSolution:
    """Solve every stage of one worker when the whole service receives `rps_total`.

    In order, each holding the ones before it: the core; the event loop (its turns hold the core); the DB
    and httpx pools (a DB step holds its connection through the driver's CPU and its wait for the core, or
    for the loop after an `async def` turn); the thread tokens (a pass holds all of that).
    """
    dep = deployment or scenario.deployment
    rate = rps_total / dep.workers
    ca2 = scenario.traffic.arrival_cv2
    classes: Classes = [(rate * e.share, request_phases(e, scenario.runtime)) for e in scenario.endpoints]
    async_db = any(e.handler == "async" and e.uses_db for e in scenario.endpoints)
    cpu, thread_cpu = _core_visits(classes)
    cpu_stage, loop_cpu_wait = _core_stage(classes, cpu, thread_cpu, dep, ca2)
    unstable = set() if cpu_stage.stable else {"cpu"}
    loop_stage = _loop_stage(classes, loop_cpu_wait, unstable, ca2)
    if not loop_stage.stable:
        unstable.add("loop")
    held = HeldWaits(thread=[cpu_stage.wait], loop=[loop_stage.wait, loop_cpu_wait], unstable=unstable)
    post_scale = post_wait_scale(classes)
    capped = sessions_cap_db(scenario, dep)
    pools = _solve_pools_and_tokens(classes, held, dep, ca2, async_db, post_scale, capped)
    db_stage, http_stage, token_job, token_stage = pools
    session_waits, sessions_stable = session_slots(scenario, classes, held, stage_waits(db_stage, http_stage, held),
                                                    token_job, post_scale, dep, ca2)
    stages: dict[StageName, StageSolution] = {
        "cpu": cpu_stage, "event_loop": loop_stage, "db_pool": db_stage, "http_pool": http_stage,
    }
    stages["thread_tokens"] = token_stage
    busiest = max(cpu_stage.utilization, loop_stage.utilization) if cpu_stage.stable and loop_stage.stable else math.inf
    order: tuple[StageName, ...] = ("event_loop", "cpu", "thread_tokens", "db_pool", "http_pool")
    return WorkerSolution(
        rps_per_worker=rate,
        stages={n: stages[n] for n in order},
        _phases=[phases for _, phases in classes],
        _loop_cpu_wait=loop_cpu_wait,
        _token_job=token_job,
        _post_scale=post_scale,
        _gc_stall=gc_stall(scenario.runtime, rate, busiest),
        _held_loop=(loop_stage.wait, loop_cpu_wait),
        _session_waits=session_waits,
        _sessions_stable=sessions_stable,
    )


# Rounds of the fixed point between the DB pool and the tokens when a session holds its connection across
# passes; each round only lengthens the holds, so it converges from below or the hold runs away.
_MAX_ROUNDS = 200
_CONVERGED = 1e-9


def _solve_pools_and_tokens(
    classes: Classes, held: HeldWaits, dep: Deployment, ca2: float, async_db: bool, post_scale: float,
    capped: bool = False,
) -> tuple[StageSolution, StageSolution, StageSolution, StageSolution]:
    """(DB pool, httpx pool, tokens per request, tokens per pass).

    A pass holds its token through its wait for a connection, so the tokens come after the pools. A
    session held across passes (`db_connection_scope` "request") holds its connection through the later
    passes' token waits as well: then the two are solved together, from no token wait up, until the
    connection's hold stops growing (a fixed point), or past saturation.
    """
    spans = any(s.connection == "open" for _, phases in classes for p in phases for s in p.steps)
    extra = [(0.0, 0.0)] * len(classes)
    for _ in range(_MAX_ROUNDS):
        db, http = _pool_visits(classes, held, extra)
        db_stage, http_stage = _pool_stages(db, http, dep, ca2, async_db or spans, capped)
        waits = stage_waits(db_stage, http_stage, held)
        unstable = set(held.unstable) | {k for k, st in (("db", db_stage), ("http", http_stage)) if not st.stable}
        token_job, token_stage = _token_stages(classes, waits, held, unstable, dep, ca2, post_scale)
        if not spans:
            break
        found = [span(phases, waits, held, unstable) for _, phases in classes]
        new = [(0.0, 0.0) if sp is None else sp.with_token_wait(token_job, post_scale) for sp in found]
        grown = max((n[0] - o[0] for n, o in zip(new, extra, strict=True)), default=0.0)
        extra = new
        if not (db_stage.stable and token_job.stable) or not math.isfinite(grown) or grown <= _CONVERGED:
            break
    return db_stage, http_stage, token_job, token_stage


def _core_visits(classes: Classes) -> tuple[Visits, Visits]:
    """Visits to the core, and those of them from threads: every CPU step and every piece of held CPU."""
    cpu, thread_cpu = Visits(), Visits()
    for lam, phases in classes:
        for phase in phases:
            for step in phase.steps:
                pieces = [(step.mean_ms, step.cv2)] if step.kind == "cpu" else [(ms, 0.0) for ms in step.held_cpu_ms]
                for ms, cv2 in pieces:
                    cpu.add(lam, ms, cv2 * ms**2)
                    if phase.on_thread:
                        thread_cpu.add(lam, ms, cv2 * ms**2)
    return cpu, thread_cpu


def _loop_stage(classes: Classes, loop_cpu_wait: Stall, unstable: set[str], ca2: float) -> StageSolution:
    """The event loop: its turns, and the turns an `async def` handler's DB driver takes while it holds a
    connection; each holds the loop through its wait for the core."""
    loop = Visits()
    waits: dict[str, Wait | Stall] = {"cpu": loop_cpu_wait}
    for lam, phases in classes:
        for phase in phases:
            if phase.holds == "loop":
                mean, var = phase_moments(phase, waits, unstable)
                loop.add(lam, mean, var)
            elif phase.holds is None:
                for step in phase.steps:
                    for ms in step.held_cpu_ms:
                        hold = math.inf if "cpu" in unstable else ms + loop_cpu_wait.mean_ms
                        loop.add(lam, hold, 0.0 if math.isinf(hold) else wait_var(loop_cpu_wait))
    return solve_queue("event_loop", loop, 1, ca2)


def _pool_visits(
    classes: Classes, held: HeldWaits, extra: Sequence[tuple[float, float]] = ()
) -> tuple[Visits, Visits]:
    """Visits to the DB and httpx pools: each step's own time, and any CPU run inside it with its waits. A
    request-scoped connection is one visit, from its opening step on: `extra` (mean, variance) per class
    is what comes after that step (see `sizing.model._sessions.Span`)."""
    db, http = Visits(), Visits()
    for k, (lam, phases) in enumerate(classes):
        for phase in phases:
            for step in phase.steps:
                target = {"db": db, "http": http}.get(step.kind)
                if target is None or step.connection == "keep":
                    continue
                mean, var = step.mean_ms, step.cv2 * step.mean_ms**2
                if step.connection == "open" and extra:
                    mean, var = mean + extra[k][0], var + extra[k][1]
                if step.held_cpu_ms:
                    if held.unbounded(phase):
                        mean, var = math.inf, math.inf
                    else:
                        for ms in step.held_cpu_ms:
                            mean += ms + math.fsum(w.mean_ms for w in held.of(phase))
                            var += math.fsum(wait_var(w) for w in held.of(phase))
                target.add(lam, mean, var)
    return db, http


def _core_stage(
    classes: Classes, cpu: Visits, thread_cpu: Visits, dep: Deployment, ca2: float
) -> tuple[StageSolution, Stall]:
    """The core as the threads see it, and the loop's wait for it."""
    # A `def` request's first pass follows its loop turn onto the core only when a token is free: weight the
    # joined and the split segments by the chance of a token wait, from the limiter at its bare holds.
    bare_tokens = [(lam, math.fsum(p.hold_ms for p in phases if p.holds == "token")) for lam, phases in classes]
    p_token = bare_token_wait(bare_tokens, dep.thread_tokens, ca2)
    segments = Visits()
    for lam, phases in classes:
        for share, split in ((1.0 - p_token, False), (p_token, True)):
            for burst in cpu_segments(phases, split_at_first_pass=split):
                segments.add(lam * share, burst, 0.0)
    others = busy_others_share(dep.thread_tokens, math.fsum(lam * ms for lam, ms in bare_tokens) / 1000.0)
    return _core(
        solve_queue("cpu", cpu, 1, ca2), solve_queue("cpu", segments, 1, ca2), cpu, thread_cpu, others
    )


def _pool_stages(
    db: Visits, http: Visits, dep: Deployment, ca2: float, async_db: bool, capped: bool = False
) -> tuple[StageSolution, StageSolution]:
    """The DB pool (c = pool + overflow) and the httpx pool (c = max_connections). `capped`: every DB user
    holds one of no more session slots than connections."""
    db_servers = dep.db_pool_size + dep.db_max_overflow
    db_stage = solve_queue("db_pool", db, db_servers, ca2)
    if db_stage.stable and db_stage.p_wait > 0 and (capped or (not async_db and dep.thread_tokens <= db_servers)):
        # Only token holders take connections and there are no more tokens than connections: nobody waits.
        db_stage = StageSolution(
            name="db_pool",
            servers=db_servers,
            arrival_rps=db.rate,
            hold_ms=db.mean_ms,
            hold_cv2=db.cv2,
            utilization=db_stage.utilization,
            stable=True,
            p_wait=0.0,
            wait=IDLE,
            wait_p99_ms=0.0,
            method="no wait: no more session slots than connections (max_concurrency)"
            if capped
            else "no wait: thread_tokens <= pool, the limiter caps DB concurrency",
        )
    return db_stage, solve_queue("http_pool", http, dep.http_max_connections, ca2)


def _token_stages(
    classes: Classes,
    waits: dict[str, Wait | Stall],
    held: HeldWaits,
    unstable: set[str],
    dep: Deployment,
    ca2: float,
    post_scale: float,
) -> tuple[StageSolution, StageSolution]:
    """The thread tokens, solved as one job per request (returned too) and reported per pass."""
    passes, jobs = Visits(), Visits()
    full_waits = 0.0
    for lam, phases in classes:
        job_mean = job_var = 0.0
        for phase in phases:
            if phase.holds != "token":
                continue
            mean, var = phase_moments(phase, waits, unstable, held.of(phase))
            passes.add(lam, mean, var)
            job_mean += mean
            job_var += var
        if job_mean > 0:
            jobs.add(lam, job_mean, job_var)
            flags = pays_full_wait(phases)
            full_waits += lam * sum(1.0 if f else (post_scale if f is None else 0.0) for f in flags)
    token_job = solve_queue("thread_tokens", jobs, dep.thread_tokens, ca2)
    return token_job, per_visit(token_job, passes, full_waits)


def _core(
    fifo: StageSolution, segments: StageSolution, cpu: Visits, threads: Visits, others_share: float
) -> tuple[StageSolution, Stall]:
    """The CPU stage as the threads see it (rates and utilization per visit; see sizing.model._cpu) and the loop's
    wait for the core."""
    rho_threads = threads.first / 1000.0
    width = threads.second / threads.first if threads.first > 0 else 0.0
    if not (fifo.stable and segments.stable) or segments.p_wait <= 0 or threads.rate <= 0:
        return fifo, Stall(min(rho_threads, 1.0), width)
    wait, loop_wait = gil_waits(segments.wait, (cpu.first - threads.first) / 1000.0, rho_threads, width, others_share)
    method = fifo.method + "; threads wait behind the event loop, which keeps the GIL across its callbacks"
    return (
        StageSolution(
            name=fifo.name,
            servers=fifo.servers,
            arrival_rps=fifo.arrival_rps,
            hold_ms=fifo.hold_ms,
            hold_cv2=fifo.hold_cv2,
            utilization=fifo.utilization,
            stable=True,
            p_wait=fifo.p_wait,
            wait=wait,
            wait_p99_ms=wait.quantile_ms(0.99),
            method=method,
        ),
        loop_wait,
    )


def _latency_pieces(
    phases: tuple[Phase, ...],
    stages: dict[StageName, StageSolution],
    loop_cpu_wait: Stall,
    token_waits: list[Wait],
    held_loop: tuple[Wait | Stall, ...] = (),
) -> tuple[float, list[Wait | Stall], list[Service]]:
    by_step: dict[str, StageName] = {"cpu": "cpu", "db": "db_pool", "http": "http_pool"}
    shift = 0.0
    waits: list[Wait | Stall] = []
    services: list[Service] = []
    first_pass = True
    # Thread CPU steps of consecutive passes with no I/O between them wait for the core a pass apart, in the
    # same congestion: their waits are taken as one wait scaled by their number (comonotone), not as
    # independent draws whose sum has too thin a tail (pure-CPU response-model passes: p99 -30% otherwise).
    run_at, run_n = -1, 0
    for phase in phases:
        if phase.holds == "loop":
            waits.append(stages["event_loop"].wait)
            run_at = -1
        elif phase.holds == "token" and first_pass:
            waits.extend(token_waits)
            first_pass = False
        shift += phase.handoff_ms
        for step in phase.steps:
            if step.kind == "cpu" and phase.holds == "loop":
                waits.append(loop_cpu_wait)
            elif step.kind == "cpu" and phase.holds == "token":
                cpu_wait = stages["cpu"].wait
                if run_at >= 0:
                    run_n += 1
                    waits[run_at] = scaled_wait(cpu_wait, float(run_n))
                else:
                    run_at, run_n = len(waits), 1
                    waits.append(cpu_wait)
            elif step.kind in by_step and step.connection != "keep":
                waits.append(stages[by_step[step.kind]].wait)
            if step.kind != "cpu" and step.mean_ms > 0:
                run_at = -1
            services.append(Service(step.mean_ms, step.cv2))
            for ms in step.held_cpu_ms:
                # A driver's CPU inside the step: a thread waits for the core, an async handler's driver
                # for the loop and then its turn on the core.
                waits.extend([stages["cpu"].wait] if phase.holds == "token" else held_loop)
                services.append(Service(ms, 0.0))
    return shift, waits, services


def useful_token_cap(scenario: Scenario, dep: Deployment, rps_total: float) -> int | None:
    """Thread tokens the downstream can use at `rps_total`: DB connections plus the p99.9 of tokens busy
    outside DB holding (CPU, upstream calls, other I/O). Tokens past this only wait for a connection while
    holding a token. None when no request takes a token."""
    roomy = dep.model_copy(update={"thread_tokens": 100_000})
    sol = solve_worker(scenario, rps_total, roomy)
    tok = sol.stages["thread_tokens"]
    if tok.arrival_rps <= 0 or not sol.stable:
        return None
    db_busy = math.fsum(
        sol.rps_per_worker * e.share * e.db_hold_ms / 1000.0
        for e in scenario.endpoints
        if e.handler == "sync" and e.uses_db
    )
    outside = max(tok.arrival_rps * tok.hold_ms / 1000.0 - db_busy, 0.0)
    return dep.db_pool_size + dep.db_max_overflow + int(poisson_pool_size(outside, 1.0, 1e-3))
