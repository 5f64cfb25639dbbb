"""Predictions for the validation points: the scenario as the server emulates it, the model's and the
simulator's numbers for it, and how far a run as long as a point's strays from the long run.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np

from sizing.model import Evaluation, evaluate
from sizing.scenario import Endpoint, Scenario, Traffic
from sizing.simulation import SimulationResult, simulate, simulate_windows
from sizing.validation._plan import warmup_s
from sizing.validation._report import Measured, Predicted, ValidationReport, WindowSpread

__all__ = ["emulated_scenario", "predict", "repredict", "window_spread"]

Source = Literal["model", "simulator"]

# Enough simulated requests for a p99 to about 2%, bounded in wall time (the simulator's own limits).
_SIM_REQUESTS = 100_000
_SIM_REPLICATIONS = 3
_SIM_SECONDS = 30.0


def _shift(x: float | None, by: float) -> float | None:
    return None if x is None else float(x) + by


def _saturation(result: SimulationResult) -> float | None:
    """The simulator has no analytic saturation rate: past saturation its throughput is one, below it its
    rate over its busiest stage's utilization."""
    if not result.stable and result.throughput_rps:
        return result.throughput_rps
    top = max((s.utilization for s in result.stages), default=0.0)
    return result.rps / top if result.rps and top > 0 else None


def predict(
    source: Source, scenario: Scenario, overhead_ms: float, seed: int = 1, admission_limit: int | None = None
) -> Predicted:
    """The prediction of `source` for `scenario` at its traffic.rps, client overhead added.

    `admission_limit`: the server sheds past this many requests in flight per worker; the simulator does
    the same (the model's max_rps is the capacity either way). A predictor that raises gives a prediction
    whose `error` says why, and so a verdict of status "error": the run goes on to its other points."""
    try:
        if source == "model":
            result: Evaluation | SimulationResult = evaluate(scenario)
        else:
            result = simulate(
                scenario, requests=_SIM_REQUESTS, replications=_SIM_REPLICATIONS, seed=seed,
                max_wall_seconds=_SIM_SECONDS, admission_limit=admission_limit,
            )
        return _predicted(source, result, overhead_ms)
    except Exception as exc:
        return _failed(source, exc)


def _predicted(source: Source, result: Evaluation | SimulationResult, overhead_ms: float) -> Predicted:
    overall = result.overall
    per_class = {
        lat.name: {k: _shift(getattr(lat, k), overhead_ms) for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms")}
        for lat in result.latency[:-1]
    }
    tokens = result.stage("thread_tokens")
    max_rps: float | None
    cpu: float | None
    bottleneck: str | None
    if isinstance(result, Evaluation):
        max_rps, cpu, bottleneck = result.max_rps, result.cpu_utilization_worker, result.bottleneck
    else:
        max_rps, cpu, bottleneck = _saturation(result), None, None
    return Predicted(
        source=source,
        mean_ms=_shift(overall.mean_ms, overhead_ms),
        p50_ms=_shift(overall.p50_ms, overhead_ms),
        p95_ms=_shift(overall.p95_ms, overhead_ms),
        p99_ms=_shift(overall.p99_ms, overhead_ms),
        per_class=per_class,
        max_rps=max_rps,
        stable=result.stable,
        token_utilization=None if tokens is None else tokens.utilization,
        cpu_utilization=cpu,
        bottleneck=bottleneck,
    )


def _failed(source: str, exc: Exception) -> Predicted:
    return Predicted(
        source=source,
        mean_ms=None,
        p50_ms=None,
        p95_ms=None,
        p99_ms=None,
        per_class={},
        max_rps=None,
        stable=None,
        token_utilization=None,
        cpu_utilization=None,
        bottleneck=None,
        error=f"{type(exc).__name__}: {exc}"[:300],
    )


def emulated_scenario(
    scenario: Scenario,
    cpu_ms: dict[str, float],
    rps: float,
    handoff_ms: float | None,
    db_step: dict[str, dict[str, float]] | None = None,
) -> Scenario:
    """`scenario` at `rps` with the CPU per class the server spent and, if given, this token hand-off.

    `db_step` (the real backend's calibration): a DB step holds its connection that much longer than the
    time asked of the database, and that much of its CPU is the driver's, run inside the hold."""
    endpoints = [_as_served(e, cpu_ms.get(e.name, e.cpu_ms), db_step) for e in scenario.endpoints]
    traffic = Traffic(rps=rps, peak_factor=1.0, arrival_cv2=scenario.traffic.arrival_cv2)
    update: dict[str, object] = {"traffic": traffic, "endpoints": endpoints}
    if handoff_ms is not None:
        update["runtime"] = scenario.runtime.model_copy(update={"token_handoff_ms": handoff_ms})
    return scenario.model_copy(update=update)


def _as_served(endpoint: Endpoint, cpu_ms: float, db_step: dict[str, dict[str, float]] | None) -> Endpoint:
    update: dict[str, object] = {"cpu_ms": cpu_ms}
    step = (db_step or {}).get("sync" if endpoint.handler == "sync" else "async")
    if step is not None and endpoint.uses_db:
        hold = endpoint.db_hold_ms + step["hold_ms"]
        # The driver's CPU is part of both the hold and the request's CPU: bounded by each, so the
        # scenario stays valid even when the calibration ran on a busier machine than the points.
        driver = min(step["cpu_ms"], 0.9 * step["hold_ms"], 0.9 * cpu_ms)
        update |= {"db_hold_ms": hold, "db_cpu_ms": max(driver, 0.0)}
        if endpoint.db_hold_p99_ms is not None:
            update["db_hold_p99_ms"] = endpoint.db_hold_p99_ms + step["hold_ms"]
    return endpoint.model_copy(update=update)


def repredict(report: ValidationReport, seed: int = 1) -> ValidationReport:
    """The report with the model's and simulator's predictions recomputed from its stored calibration.

    Measurements are untouched; use it when the model or simulator has changed since the run.
    """
    scenario = Scenario.model_validate(report.scenario)
    cal = report.calibration
    points = []
    for p in report.points:
        emulated = emulated_scenario(scenario, cal.cpu_ms_emulated, p.rps, cal.handoff_ms_model, cal.db_step)
        model = predict("model", emulated, cal.overhead_ms, seed)
        sim = predict("simulator", emulated, cal.overhead_ms, seed, admission_limit=p.admitted)
        window = window_spread(emulated, p.measured, warmup_s(scenario, report.seconds), sim, cal.overhead_ms, seed)
        measured = p.measured.net_of_shedding(cal.trivial_server_cpu_ms, scenario.deployment.workers_per_host)
        points.append(
            p.model_copy(update={"measured": measured, "model": model, "simulator": sim, "window": window})
        )
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return report.model_copy(update={"points": points, "predicted": stamp}).rejudged()


# Runs simulated per point to learn what a run of its length shows (bounded in requests and wall time).
_WINDOW_REQUESTS = 1_000_000
_WINDOW_RUNS = (40, 400)


def window_spread(
    emulated: Scenario, measured: Measured, warmup_seconds: float, sim: Predicted | None, overhead_ms: float,
    seed: int,
) -> WindowSpread | None:
    """How far a run as long as this point's strays from the long run (95%), by simulating many such runs
    against the simulator's long-run prediction `sim` (both with the client overhead); None past saturation
    or without a long-run simulation to compare with."""
    if sim is None or sim.error or sim.stable is False or sim.mean_ms is None or sim.p99_ms is None:
        return None
    workers = emulated.deployment.workers
    window = measured.count // workers
    if window < 100:
        return None
    warm = round(warmup_seconds * emulated.traffic.rps / workers)
    runs = min(max(_WINDOW_REQUESTS // (window + warm), _WINDOW_RUNS[0]), _WINDOW_RUNS[1])
    means, p99s = simulate_windows(emulated, window, warm, runs=runs, seed=seed, max_wall_seconds=20.0)

    def spread(values: np.ndarray, long_run: float) -> tuple[float, float]:
        lo, hi = np.quantile((values + overhead_ms) / long_run, [0.025, 0.975])
        return float(lo), float(hi)

    return WindowSpread(
        runs=len(means), window=window, warmup=warm, mean_ratio=spread(means, sim.mean_ms),
        p99_ratio=spread(p99s, sim.p99_ms),
    )
