"""`validate`: start the emulating server, calibrate once, run the load points, compare with predictions."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from sizing._checks import check_callable, check_choice, check_int, check_real, check_type
from sizing.scenario import Scenario
from sizing.validation._activity import activity
from sizing.validation._backend import BACKENDS, DB_POOLS, BackendKind, DbPool, backend_for, check_backend
from sizing.validation._calibrate import (
    CalibrationData,
    burns_at,
    calibrate,
    db_step,
    fidelity,
    idle_rate,
    prewarm_for,
)
from sizing.validation._measure import PointRun, Probe, analyze, disturbance_score, drive
from sizing.validation._plan import (
    LoadPoint,
    nominal_capacities,
    nominal_latency_s,
    parse_points,
    resolve_points,
    warmup_s,
)
from sizing.validation._predict import emulated_scenario, predict, window_spread
from sizing.validation._processes import (
    Server,
    loop_and_http,
    pinned_cpus,
    sigterm_as_interrupt,
    start_server,
)
from sizing.validation._report import (
    Calibration,
    PointReport,
    ValidationReport,
    overloaded,
    verdict,
)
from sizing.validation.loadgen._spec import LoadSpec

__all__ = ["Options", "admission_limit", "check_scenario", "measured_handoff_ms", "validate"]

Runtime = Literal["scenario", "measured"]
Overload = Literal["shed", "queue"]
Progress = Callable[[str], object]

DEFAULT_POINTS = "0.5,0.8,1.2"
MAX_SECONDS = 600.0
MAX_WORKERS = 16
MAX_TOKENS = 2000
# Connections per point (one per request in flight): within the default 20k descriptors of both processes.
MAX_CONNECTIONS = 8000
MAX_PREWARM = 6000
MAX_BACKLOG = 5000
POINT_SAMPLE_S = 0.1  # limiter and pools sampled ten times a second during a point
OVERLOAD_MODES: tuple[Overload, ...] = ("shed", "queue")
RUNTIMES: tuple[Runtime, ...] = ("scenario", "measured")


def check_scenario(scenario: Scenario) -> None:
    """What the emulation cannot run; ValueError naming the field, its value and the valid range."""
    dep = scenario.deployment
    problems = []
    if dep.hosts != 1:
        problems.append(
            f"deployment.hosts: validate emulates one host, got {dep.hosts}; set it to 1 (per-worker rates "
            "and latencies do not depend on hosts)"
        )
    if dep.workers_per_host > MAX_WORKERS:
        problems.append(
            f"deployment.workers_per_host: must be in [1, {MAX_WORKERS}] here, got {dep.workers_per_host}"
        )
    if dep.thread_tokens > MAX_TOKENS:
        problems.append(
            f"deployment.thread_tokens: must be in [1, {MAX_TOKENS}] here, got {dep.thread_tokens}"
        )
    for i, ep in enumerate(scenario.endpoints):
        if ep.uses_db and dep.db_connections_per_worker == 0:
            problems.append(
                f"endpoints.{i}.db_hold_ms: {ep.db_hold_ms} needs a DB connection but "
                "deployment.db_pool_size + db_max_overflow is 0; give a pool of at least 1"
            )
    if problems:
        raise ValueError("\n".join(problems))


def _machine(loop: str, http: str) -> dict[str, Any]:
    def ver(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "uvicorn": ver("uvicorn"),
        "fastapi": ver("fastapi"),
        "starlette": ver("starlette"),
        "anyio": ver("anyio"),
        "loop": loop,
        "http": http,
        "loadavg_start": list(os.getloadavg()),
    }


def admission_limit(scenario: Scenario, capacity_rps: float) -> int:
    """Requests in flight per worker past which an overload point sheds: twice what the worker holds at its
    capacity by Little's law at the nominal latency, plus its tokens and a margin, so every stage stays busy
    while the backlog (and the collector's work on it) stays bounded."""
    dep = scenario.deployment
    holding = capacity_rps / dep.workers_per_host * nominal_latency_s(scenario)
    return math.ceil(2.0 * holding) + dep.thread_tokens + 32


def _run_point(
    server: Server,
    scenario: Scenario,
    point: LoadPoint,
    *,
    seconds: float,
    seed: int,
    max_requests: int,
    retries: int,
    generators: int,
    capacity_rps: float,
    admitted: int | None = None,
    probe: Probe | None = None,
) -> tuple[PointRun, int]:
    """Run a point; repeat it (at most `retries` times) while it is disturbed (other processes' CPU,
    hypervisor steal, or the generator sending late); the least disturbed run.

    Past the nominal capacity without admission control the requests not yet served pile up, each on its
    own connection: those are opened before the point (so the server does not spend its CPU accepting them
    mid-run) and drained after it. With admission (`admitted` per worker) the backlog is that.
    """
    lat_s = nominal_latency_s(scenario)
    if admitted is not None:
        backlog = float(admitted * scenario.deployment.workers_per_host)
    else:
        # The real capacity may be below the nominal one (GIL waits): plan for a 20% larger backlog.
        excess = max(point.rps - 0.8 * capacity_rps, 0.0)
        if excess * seconds > MAX_BACKLOG:
            seconds = max(MAX_BACKLOG / excess, 4.0)  # shorter, still thousands of completions to count
        backlog = excess * seconds
    spec = LoadSpec(
        port=server.port,
        paths=tuple(f"/e/{i}" for i in range(len(scenario.endpoints))),
        shares=tuple(e.share for e in scenario.endpoints),
        rate=point.rps,
        seconds=seconds,
        max_requests=max_requests,
        seed=seed,
        arrival_cv2=scenario.traffic.arrival_cv2,
        drain_s=min(max(5.0, 20 * lat_s + 1.3 * backlog / max(capacity_rps, 1.0)), 120.0),
        prewarm=min(prewarm_for(point.rps, lat_s * 1.5) + int(backlog), MAX_PREWARM),
        max_connections=MAX_CONNECTIONS,
    )
    best: tuple[float, PointRun] | None = None
    attempts = 0
    for _ in range(retries + 1):
        attempts += 1
        run = drive(server, spec, generators=generators, sample_s=POINT_SAMPLE_S, probe=probe)
        if not server.proc.alive():
            raise RuntimeError(f"the emulating server exited during {point.label}: {server.log_tail()}")
        score = disturbance_score(run)
        if best is None or score < best[0]:
            best = (score, run)
        if score <= 1.0:
            break
        time.sleep(2.0)  # a pause for the neighbours
    assert best is not None
    return best[1], attempts


def measured_handoff_ms(cal: CalibrationData) -> float | None:
    """The token hand-off measured at saturation, in the scenario's valid range, or None if not measured."""
    if cal.handoff_ms_saturation is None:
        return None
    return min(max(cal.handoff_ms_saturation, 0.0), 100.0)


def _as_emulated(scenario: Scenario, cal: CalibrationData, rps: float, runtime: Runtime) -> Scenario:
    """The scenario at `rps` (Poisson peak = rps) with each class's CPU as the server really spends it.

    runtime "measured": the token hand-off is the one calibrated on this server instead of the scenario's.
    """
    handoff = measured_handoff_ms(cal) if runtime == "measured" else None
    return emulated_scenario(scenario, cal.cpu_ms_emulated, rps, handoff, cal.db_step)


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """The settings of one run, checked (see `validate` for each one's meaning)."""

    seconds: float = 20.0
    stage: str = "bottleneck"
    seed: int = 1
    max_requests: int = 100_000
    ceiling: bool = True
    runtime: Runtime = "scenario"
    retries: int = 2
    generators: int = 1
    name: str = "scenario"
    overload: Overload = "shed"
    backend: BackendKind = "emulated"
    db_pool: DbPool = "sqlalchemy"
    database_url: str | None = None
    pin: bool = False

    def __post_init__(self) -> None:
        check_real("seconds", self.seconds, lo=1.0, hi=MAX_SECONDS)
        check_int("max_requests", self.max_requests, lo=100, hi=10_000_000)
        check_int("seed", self.seed, lo=0, hi=2**32 - 1)
        check_type("ceiling", self.ceiling, bool, "True or False")
        check_choice("runtime", self.runtime, RUNTIMES)
        check_int("retries", self.retries, lo=0, hi=10)
        check_int("generators", self.generators, lo=1, hi=8)
        check_type("name", self.name, str, "a string")
        check_choice("overload", self.overload, OVERLOAD_MODES)
        check_choice("backend", self.backend, BACKENDS)
        check_choice("db_pool", self.db_pool, DB_POOLS)
        if self.database_url is not None:
            check_type("database_url", self.database_url, str, "a postgresql:// URL or None")
        check_type("pin", self.pin, bool, "True or False")


@dataclass(slots=True, kw_only=True)
class _Bench:
    """A calibrated server ready for points: what every point of the run shares."""

    server: Server
    scenario: Scenario
    cal: CalibrationData
    opts: Options
    emulated: Scenario  # the scenario as emulated at its own rate: the capacities the points are placed on
    capacities: dict[str, float]
    reference_rps: float
    points: list[LoadPoint]
    probe: Probe | None = None

    @property
    def capacity(self) -> float:
        return min(self.capacities.values())


def _served(scenario: Scenario, backend: BackendKind) -> Scenario:
    """What the server runs: on the real backend a driver spends its own CPU, so none is emulated for it
    (`db_cpu_ms` 0); the predictions take the driver's CPU from the calibration instead."""
    if backend == "emulated" or not any(e.db_cpu_ms for e in scenario.endpoints):
        return scenario
    return scenario.model_copy(update={"endpoints": [e.model_copy(update={"db_cpu_ms": 0.0}) for e in scenario.endpoints]})


def _parsed_points(points: str | Sequence[float]) -> list[tuple[float, bool]]:
    parsed = parse_points(points) if isinstance(points, str) else [(float(p), False) for p in points]
    if not parsed or any(not (0 < v <= 5 and math.isfinite(v)) for v, rps in parsed if not rps):
        raise ValueError(f"'points' must be fractions in (0, 5] or rates like 640rps (got {points!r})")
    return parsed


def _bench(
    server: Server,
    scenario: Scenario,
    parsed: list[tuple[float, bool]],
    opts: Options,
    say: Progress,
    probe: Probe | None = None,
) -> _Bench:
    """Calibrate the server once, then place the points on the scenario as emulated (its CPU as spent, the
    hand-off the predictions use): still from the phases alone, never from the model."""
    _, first = resolve_points(scenario, parsed, opts.stage)
    cal = calibrate(
        server,
        scenario,
        seed=opts.seed,
        ceiling_up_to=max(p.rps for p in first) if opts.ceiling else None,
        point_rates=[p.rps for p in first],
    )
    if opts.backend == "postgres":
        db_step(server, scenario, cal)
    say(
        f"calibrated: overhead {cal.overhead_ms:.3f} ms, hand-off {cal.handoff_ms_saturation} ms, "
        f"framework CPU {cal.framework_cpu_ms}, ceiling {cal.ceiling_rps}"
    )
    emulated = _as_emulated(scenario, cal, scenario.traffic.rps, opts.runtime)
    ref, points = resolve_points(emulated, parsed, opts.stage)
    return _Bench(
        probe=probe,
        server=server,
        scenario=scenario,
        cal=cal,
        opts=opts,
        emulated=emulated,
        capacities=nominal_capacities(emulated),
        reference_rps=ref,
        points=points,
    )


def _point(bench: _Bench, k: int, point: LoadPoint, say: Progress) -> PointReport:
    """Configure the server for one point, run it (repeated while disturbed), measure and judge it."""
    scenario, cal, opts = bench.scenario, bench.cal, bench.opts
    workers = scenario.deployment.workers_per_host
    # Each class burns cpu_ms less the framework CPU calibrated (before any point) at this rate; below
    # capacity the server's control corrects what the framework really costs under load.
    plans = burns_at(scenario, cal, point.rps)
    over = point.rps >= 0.98 * bench.capacity
    admitted = admission_limit(bench.emulated, bench.capacity) if over and opts.overload == "shed" else None
    target_ms = math.fsum(e.share * cal.cpu_ms_emulated.get(e.name, e.cpu_ms) for e in scenario.endpoints)
    bench.server.configure(
        burns=plans,
        control={"enabled": not over, "target_ms": target_ms, "stats_cost_s": cal.poll_cpu_s,
                 "idle_cores": cal.idle_cpu},
        admit=admitted,
    )
    run, attempts = _run_point(
        bench.server, scenario, point, seconds=opts.seconds, seed=opts.seed + 17 * (k + 1),
        max_requests=opts.max_requests, retries=opts.retries, generators=opts.generators,
        capacity_rps=bench.capacity, admitted=admitted, probe=bench.probe,
    )
    warmup = warmup_s(scenario, opts.seconds)
    names = [e.name for e in scenario.endpoints]
    measured = analyze(
        run, rate=point.rps, warmup_s=warmup, class_names=names, attempts=attempts,
        passes=sum(e.share * e.token_passes for e in scenario.endpoints), workers=workers,
        idle_cpu=idle_rate(cal, POINT_SAMPLE_S),
    ).net_of_shedding(cal.trivial_server_cpu_ms, workers)
    emulated = _as_emulated(scenario, cal, point.rps, opts.runtime)
    model = predict("model", emulated, cal.overhead_ms, opts.seed)
    sim = predict("simulator", emulated, cal.overhead_ms, opts.seed, admission_limit=admitted)
    window = window_spread(emulated, measured, warmup, sim, cal.overhead_ms, opts.seed)
    say(
        f"{point.label}: {point.rps:.0f} rps offered, {measured.achieved_rps:.0f} done/s, "
        f"mean {measured.mean_ms} p99 {measured.p99_ms} ms, other CPU {measured.other_cpu:.2f}, steal "
        f"{measured.steal:.2f}, run-queue wait {measured.runqueue_wait_ms_per_request:.3f} ms/request, "
        f"attempts {attempts}"
    )
    return PointReport(
        label=point.label,
        fraction=point.fraction,
        rps=point.rps,
        nominal_utilization={s: round(point.rps / c, 4) for s, c in bench.capacities.items() if c > 0},
        measured=measured,
        burn_plan_ms={n: [round(x, 4) for x in plan] for n, plan in zip(names, plans, strict=True)},
        admitted=admitted,
        window=window,
        model=model,
        simulator=sim,
        verdicts={
            "model": verdict(measured, model, overloaded(point.fraction, model), window=window),
            "simulator": verdict(measured, sim, overloaded(point.fraction, sim), window=window),
        },
    )


def _calibration(scenario: Scenario, cal: CalibrationData, runtime: Runtime) -> Calibration:
    handoff = measured_handoff_ms(cal) if runtime == "measured" else None
    return Calibration(
        overhead_ms=cal.overhead_ms,
        trivial_latency_ms=cal.trivial_latency_ms,
        trivial_server_cpu_ms=cal.trivial_server_cpu_ms,
        framework_cpu_ms=cal.framework_cpu_ms,
        framework_mix_ms_at={f"{r:g}": round(v, 4) for r, v in sorted(cal.framework_mix_ms_at.items())},
        cpu_ms_emulated=cal.cpu_ms_emulated,
        burn_plan_ms=cal.burn_plan_ms,
        handoff_ms_saturation=cal.handoff_ms_saturation,
        handoff_ms_gap=cal.handoff_ms_gap,
        handoff_ms_model=scenario.runtime.token_handoff_ms if handoff is None else handoff,
        db_step=cal.db_step,
        sleep_overshoot_ms=cal.sleep_overshoot_ms,
        hold_overhead_ms=cal.hold_overhead_ms,
        burn_accuracy=cal.burn_accuracy,
        generator_ceiling_rps=cal.ceiling_rps,
        generator_ceiling_cpu=cal.ceiling_cpu,
        notes=[*cal.notes, f"python {sys.version.split()[0]}"],
    )


def _run(
    scenario: Scenario, parsed: list[tuple[float, bool]], opts: Options, machine: dict[str, Any], say: Progress
) -> tuple[_Bench, list[PointReport], dict[str, Any]]:
    """Start the backend and the server (pinned if asked), calibrate, run every point; stop them all."""
    served = _served(scenario, opts.backend)
    with (
        sigterm_as_interrupt(),
        pinned_cpus(scenario.deployment.workers_per_host, opts.pin) as cpus,
        backend_for(scenario, opts.backend, opts.db_pool, opts.database_url) as used,
        activity(used) as probe,
    ):
        if cpus is not None:
            machine["pinned"] = {"server": sorted(cpus[0]), "others": sorted(cpus[1])}
            say(f"server on CPUs {sorted(cpus[0])}; the database, upstream, generators and harness on {sorted(cpus[1])}")
        if used.database is not None:
            say(f"PostgreSQL {used.database.version} ready; the server's DB pool: {opts.db_pool}")
        say(f"starting uvicorn ({machine['loop']}, {machine['http']}) on 127.0.0.1")
        server = start_server(
            served, seed=opts.seed, backend=used.config, companions=used.companions,
            cpus=None if cpus is None else cpus[0],
        )
        try:
            say(f"server pid {server.proc.pid} on port {server.port}; calibrating")
            bench = _bench(server, served, parsed, opts, say, probe)
            reports = [_point(bench, k, point, say) for k, point in enumerate(bench.points)]
            fidelity(server, bench.cal)
        finally:
            server.stop()
        return bench, reports, used.describe()


def validate(
    scenario: Scenario,
    points: str | Sequence[float] = DEFAULT_POINTS,
    *,
    seconds: float = 20.0,
    stage: str = "bottleneck",
    seed: int = 1,
    max_requests: int = 100_000,
    ceiling: bool = True,
    runtime: Runtime = "scenario",
    retries: int = 2,
    generators: int = 1,
    name: str = "scenario",
    overload: Overload = "shed",
    backend: BackendKind = "emulated",
    db_pool: DbPool = "sqlalchemy",
    database_url: str | None = None,
    pin: bool = False,
    progress: Progress | None = None,
) -> ValidationReport:
    """Run the scenario's load points on a real uvicorn server on 127.0.0.1; measured against predicted.

    `points` are fractions of the nominal capacity of `stage` ("bottleneck" = the lowest, or a stage name
    such as "thread_tokens"), or a string such as "0.5,0.8,1.2" or "300rps,640rps". Each point runs
    `seconds` of open-loop Poisson schedule (at most `max_requests`); a point disturbed by other
    processes, hypervisor steal or a late load generator is repeated up to `retries` times.

    Below capacity the server holds each request's CPU at the scenario's `cpu_ms` (a control loop scales
    its burns). Past capacity, with `overload="shed"`, it answers 503 beyond a bounded backlog, as
    uvicorn's --limit-concurrency would, so the completion rate measured is its capacity;
    `overload="queue"` lets the backlog grow for the whole point. Predictions use the scenario's runtime
    constants, or with `runtime="measured"` the token hand-off calibrated on this server. `progress(line)`
    is called as the run goes.

    `backend="postgres"` puts real parts behind the server: a private PostgreSQL (or, with
    `database_url`, a schema of its own on a server you run), reached through SQLAlchemy (psycopg for `def`
    code, asyncpg for `async def`) or, with `db_pool`, a bare psycopg_pool or asyncpg pool; upstream calls go
    through httpx to an upstream process. The default, "emulated", holds semaphores and sleeps.

    `pin=True` pins the server (and its workers) to the first `workers_per_host` CPUs and everything else
    this run starts, and this process, to the others, so that the worker's core is its own.

    Raises TypeError or ValueError for what cannot be validated, before anything starts. The server and
    generators it starts are always stopped, also on error and on SIGTERM or Ctrl-C. A model or simulator
    that raises does not end the run: its verdicts say "error" (see `ValidationReport.exit_code`).
    """
    check_type("scenario", scenario, Scenario, "a sizing.Scenario")
    opts = Options(
        seconds=seconds, stage=stage, seed=seed, max_requests=max_requests, ceiling=ceiling, runtime=runtime,
        retries=retries, generators=generators, name=name, overload=overload, backend=backend, db_pool=db_pool,
        database_url=database_url, pin=pin,
    )
    if progress is not None:
        check_callable("progress", progress, "a callable taking one line of text")
    check_scenario(scenario)
    check_backend(scenario, backend, db_pool, database_url)
    parsed = _parsed_points(points)
    resolve_points(scenario, parsed, stage)  # an unknown stage fails here, before the server starts
    say: Progress = progress or (lambda _line: None)
    machine = _machine(*loop_and_http())
    bench, reports, described = _run(scenario, parsed, opts, machine, say)
    machine["loadavg_end"] = list(os.getloadavg())
    caps = bench.capacities
    return ValidationReport(
        name=name,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine,
        scenario=scenario.model_dump(mode="json"),
        reference_stage=stage if stage != "bottleneck" else min(caps, key=lambda s: caps[s]),
        reference_rps=bench.reference_rps,
        seconds=seconds,
        calibration=_calibration(scenario, bench.cal, runtime),
        points=reports,
        backend=described,
    )
