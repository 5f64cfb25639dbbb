"""`simulate(scenario)`: the worker process of a scenario, simulated request by request."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sizing._checks import check_callable, check_int, check_real, check_type
from sizing.scenario._lifecycle import Step, request_phases
from sizing.scenario._models import Scenario
from sizing.simulation._aggregate import Summary, summarise
from sizing.simulation._distributions import Sampler, empirical_sampler, service_sampler
from sizing.simulation._program import WorkerSpec, compile_worker
from sizing.simulation._result import SimulationResult
from sizing.simulation._worker import Replication, run_replication

__all__ = ["simulate"]

STEP_KINDS = ("cpu", "db", "http", "io", "block")
Progress = Callable[[float], object]
Empirical = Mapping[str, Sequence[float] | NDArray[np.float64]]

_MAX_REQUESTS = 100_000_000
_MIN_MEASURED_PER_REPLICATION = 100
# Calls to `progress` at most this often (seconds): a Streamlit bar redraw is not free.
_PROGRESS_EVERY_S = 0.1


def simulate(
    scenario: Scenario,
    *,
    requests: int = 200_000,
    replications: int = 5,
    seed: int = 0,
    warmup_fraction: float = 0.1,
    max_wall_seconds: float = 60.0,
    progress: Progress | None = None,
    empirical: Empirical | None = None,
    admission_limit: int | None = None,
    stop_at_stall: bool = False,
    burst: int = 0,
) -> SimulationResult:
    """Simulate one worker process of `scenario` at its share of the peak rate, request by request.

    The resources and each request's path follow sizing/_lifecycle.py exactly. `requests` counts every
    simulated request of every replication, warm-up included (the cost is proportional to it); each of
    the `replications` independent runs (seeded from `seed`) drops its first `warmup_fraction`.
    `progress(fraction)` is called now and then (returning False stops the run early, like the wall-clock
    cap `max_wall_seconds`). `empirical` maps a step kind ("db", "http", "io", "cpu", "block") or
    "endpoint name/kind" to measured durations in ms, resampled in place of the step's lognormal.
    `admission_limit`: a worker refuses at once (uses nothing, not measured) an arrival that finds this
    many requests in it, as uvicorn's --limit-concurrency answers 503; `shed_fraction` says how many.
    A DB checkout that waits the deployment's db_pool_timeout_ms fails its request (`pool_timeout_fraction`);
    `stalls` counts the worker's stalls (`first_stall_s` when each replication's first began), and
    `stop_at_stall` ends each replication at its first, for measuring the time to it. `burst` requests
    arrive together at the start of each replication, on top of the traffic (measured unless in the warm-up).
    """
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    check_int("replications", replications, lo=1, hi=1000)
    check_real("warmup_fraction", warmup_fraction, lo=0.0, hi=0.9)
    # At least _MIN_MEASURED_PER_REPLICATION requests measured in each replication.
    smallest = math.ceil(_MIN_MEASURED_PER_REPLICATION / (1.0 - warmup_fraction)) * replications
    check_int("requests", requests, lo=smallest, hi=_MAX_REQUESTS)
    check_int("seed", seed, lo=0, hi=2**63 - 1)
    check_type("stop_at_stall", stop_at_stall, bool, "True or False")
    check_int("burst", burst, lo=0, hi=10**6)
    check_real("max_wall_seconds", max_wall_seconds, lo=0.0, hi=86_400.0, lo_open=True)
    if admission_limit is not None:
        check_int("admission_limit", admission_limit, lo=1, hi=10**7)
    if progress is not None:
        check_callable("progress", progress, "a callable taking a fraction in [0, 1]")
    laws = _empirical_laws(scenario, empirical or {})
    dep = scenario.deployment
    db_users = [e.name for e in scenario.endpoints if e.uses_db and e.share > 0]
    if db_users and dep.db_connections_per_worker == 0:
        raise ValueError(
            f"deployment.db_pool_size + db_max_overflow is 0 but {db_users[0]!r} holds a DB connection: "
            "give a pool of at least 1"
        )
    return _simulate(
        scenario,
        requests=requests,
        reps=replications,
        seed=seed,
        warmup_fraction=float(warmup_fraction),
        max_wall_seconds=float(max_wall_seconds),
        progress=progress,
        laws=laws,
        admission_limit=admission_limit,
        stop_at_stall=stop_at_stall,
        burst=burst,
    )


def _empirical_laws(scenario: Scenario, empirical: Empirical) -> dict[str, Sampler]:
    if not isinstance(empirical, Mapping):
        raise ValueError(f"empirical must map a step kind or 'endpoint/kind' to samples, got {empirical!r}")
    names = {e.name for e in scenario.endpoints}
    laws = {}
    for key, values in empirical.items():
        endpoint, _, kind = str(key).rpartition("/")
        if kind not in STEP_KINDS or (endpoint and endpoint not in names):
            raise ValueError(
                f"empirical key must be one of {list(STEP_KINDS)} or 'endpoint/kind' with an endpoint of the "
                f"scenario ({sorted(names)}), got {key!r}"
            )
        laws[str(key)] = empirical_sampler(values, str(key))
    return laws


def _spec(scenario: Scenario, laws: dict[str, Sampler]) -> WorkerSpec:
    dep = scenario.deployment

    def sampler_for(name: str, step: Step) -> Sampler:
        law = laws.get(f"{name}/{step.kind}") or laws.get(step.kind)
        return law if law is not None else service_sampler(step.mean_ms, step.cv2)

    classes = [(e.name, e.share, request_phases(e, scenario.runtime)) for e in scenario.endpoints]
    capacity = (1, 1, dep.thread_tokens, dep.db_connections_per_worker, dep.http_max_connections)
    rate_per_ms = scenario.traffic.peak_rps / dep.workers / 1000.0
    return compile_worker(
        rate_per_ms, scenario.traffic.arrival_cv2, classes, capacity, sampler_for, dep.db_pool_timeout_ms,
        dep.db_session_max_concurrency,
    )


@dataclass(slots=True)
class _Runs:
    done: list[Replication]  # the replications that ran to the end
    partial: list[Replication]  # the one the wall clock or `progress` stopped, if any
    simulated: int = 0  # arrivals generated by all of them

    @property
    def stopped(self) -> bool:
        return bool(self.partial)

    @property
    def used(self) -> list[Replication]:
        return self.done or self.partial


def _simulate(
    scenario: Scenario,
    *,
    requests: int,
    reps: int,
    seed: int,
    warmup_fraction: float,
    max_wall_seconds: float,
    progress: Progress | None,
    laws: dict[str, Sampler],
    admission_limit: int | None = None,
    stop_at_stall: bool = False,
    burst: int = 0,
) -> SimulationResult:
    start = time.perf_counter()
    spec = _spec(scenario, laws)
    runs = _replicate(
        spec,
        n=requests // reps,
        reps=reps,
        seed=seed,
        warmup_fraction=warmup_fraction,
        start=start,
        deadline=start + max_wall_seconds,
        progress=progress,
        admission_limit=admission_limit,
        stop_at_stall=stop_at_stall,
        burst=burst,
    )
    notes = _notes(scenario, spec, laws, admission_limit=admission_limit, runs=runs, reps=reps,
                   elapsed_s=time.perf_counter() - start)
    s = summarise(spec, runs.used, scenario.deployment.workers)
    wall = time.perf_counter() - start
    return _result(scenario, spec, s, runs, seed=seed, warmup_fraction=warmup_fraction, wall=wall,
                   notes=notes + s.notes)


def _replicate(
    spec: WorkerSpec,
    *,
    n: int,
    reps: int,
    seed: int,
    warmup_fraction: float,
    start: float,
    deadline: float,
    progress: Progress | None,
    admission_limit: int | None,
    stop_at_stall: bool = False,
    burst: int = 0,
) -> _Runs:
    """Run `reps` replications of `n` requests in turn; the first one stopped early ends the run."""
    warm = int(n * warmup_fraction)
    margin = max(n // 2, 1000)
    runs = _Runs([], [])
    last_call = [start]
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(reps)):

        def tick(arrivals: int, i: int = i) -> bool:
            if progress is None:
                return True
            now = time.perf_counter()
            if now - last_call[0] < _PROGRESS_EVERY_S:
                return True
            last_call[0] = now
            return progress(min((i + arrivals / n) / reps, 1.0)) is not False

        rep = run_replication(spec, n, warm, np.random.default_rng(child), deadline=deadline, margin=margin,
                              tick=tick, admission_limit=admission_limit, stop_at_stall=stop_at_stall,
                              burst=burst)
        runs.simulated += rep.arrivals
        if rep.truncated:
            runs.partial.append(rep)
            break
        runs.done.append(rep)
    if progress is not None and not runs.stopped:
        progress(1.0)
    return runs


def _notes(
    scenario: Scenario,
    spec: WorkerSpec,
    laws: dict[str, Sampler],
    *,
    admission_limit: int | None,
    runs: _Runs,
    reps: int,
    elapsed_s: float,
) -> list[str]:
    dep = scenario.deployment
    notes = [
        f"One worker simulated at {scenario.traffic.peak_rps:g} rps / {dep.workers} worker(s) = "
        f"{spec.rate_per_ms * 1000:g} rps, assuming the fleet splits the load evenly (a random split of a "
        "renewal process is only approximately renewal).",
        f"Arrivals: renewal process with cv2 {scenario.traffic.arrival_cv2:g} ({spec.arrival.family}); step "
        "times lognormal with each step's mean and cv2, constant when cv2 is 0.",
    ]
    if laws:
        notes.append(f"Empirical samples replace the step times of: {', '.join(sorted(laws))}.")
    if admission_limit is not None:
        notes.append(f"Admission: a worker refuses arrivals that find {admission_limit} requests in it.")
    if dep.workers_per_host > dep.cores_per_host:
        notes.append(
            f"workers_per_host ({dep.workers_per_host}) exceeds cores_per_host ({dep.cores_per_host}): CPU "
            "contention between worker processes of a host is not simulated."
        )
    if runs.stopped:
        bias = "" if runs.done else "; the partial one is reported and biased toward fast requests"
        notes.append(
            f"Truncated after {elapsed_s:.1f} s: {len(runs.done)} of {reps} replication(s) completed{bias}."
        )
    return notes


def _result(
    scenario: Scenario,
    spec: WorkerSpec,
    s: Summary,
    runs: _Runs,
    *,
    seed: int,
    warmup_fraction: float,
    wall: float,
    notes: list[str],
) -> SimulationResult:
    dep = scenario.deployment
    used = runs.used
    thr = s.throughput_per_worker_rps
    return SimulationResult(
        rps=scenario.traffic.peak_rps,
        rps_per_worker=spec.rate_per_ms * 1000.0,
        workers=dep.workers,
        stable=s.stable,
        stages=s.stages,
        latency=s.latency,
        throughput_rps=None if thr is None else thr * dep.workers,
        ci=s.ci,
        replications=len(runs.done),
        requests=runs.simulated,
        measured_requests=sum(r.completed for r in used),
        seed=seed,
        warmup_fraction=warmup_fraction,
        wall_seconds=wall,
        requests_per_second=runs.simulated / wall if wall > 0 else 0.0,
        truncated=runs.stopped,
        shed_fraction=sum(r.shed for r in used) / max(sum(r.measured + r.shed for r in used), 1),
        pool_timeout_fraction=sum(r.failed for r in used) / max(sum(r.measured for r in used), 1),
        stalls=sum(len(r.stall_starts_ms) for r in used),
        simulated_s=sum(r.simulated_ms for r in used) / 1000.0,
        first_stall_s=[r.stall_starts_ms[0] / 1000.0 if r.stall_starts_ms else None for r in used],
        histogram=s.histogram,
        notes=notes,
    )
