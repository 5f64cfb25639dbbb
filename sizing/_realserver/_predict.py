"""Predictions for the validation points: the scenario as the server emulates it, the model's and the
simulator's numbers for it, and how far a run as long as a point's strays from the long run.

The predictors are imported lazily and a missing one is a column of "n/a" (they were written in parallel).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from sizing._realserver._plan import warmup_s
from sizing._realserver._report import Measured, Predicted, ValidationReport, WindowSpread
from sizing._scenario import Scenario, Traffic
from sizing._sim._windows import simulate_windows

__all__ = ["emulated_scenario", "predict", "predictor", "repredict", "window_spread"]

_SOURCES = {
    "model": (("sizing", "evaluate"), ("sizing._model", "evaluate")),
    "simulator": (("sizing", "simulate"), ("sizing._sim", "simulate")),
}


def predictor(source: str) -> Callable[..., Any] | None:
    """`sizing.evaluate` (source "model") or `sizing.simulate` ("simulator"), or None if not there yet.

    A module that exists but fails to import raises: that is a bug to report, not an absent column.
    """
    for module, attr in _SOURCES[source]:
        if importlib.util.find_spec(module) is None:
            continue
        fn = getattr(importlib.import_module(module), attr, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    return None


# Enough simulated requests for a p99 to about 2%, bounded in wall time (the simulator's own limits).
_SIM_KWARGS: dict[str, Any] = {"requests": 100_000, "replications": 3, "max_wall_seconds": 30.0}


def _saturation(ev: Any) -> float | None:
    """A result without max_rps (the simulator): its rate over its busiest stage's utilization."""
    rps, stages = _get(ev, "rps"), _get(ev, "stages") or []
    top = max((float(s.utilization) for s in stages), default=0.0)
    return float(rps) / top if rps and top > 0 else None


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None)


def _shift(x: Any, by: float) -> float | None:
    return None if x is None else float(x) + by


def predict(
    source: str, scenario: Scenario, overhead_ms: float, seed: int = 1, admission_limit: int | None = None
) -> Predicted | None:
    """The prediction of `source` for `scenario` at its traffic.rps, client overhead added; None if absent.

    `admission_limit`: the server sheds past this many requests in flight per worker; the simulator does
    the same (the model's max_rps is the capacity either way)."""
    try:
        fn = predictor(source)
    except Exception as exc:
        return _failed(source, exc)
    if fn is None:
        return None
    wanted = {"seed": seed, **(_SIM_KWARGS if source == "simulator" else {})}
    if admission_limit is not None:
        wanted["admission_limit"] = admission_limit
    try:
        params = inspect.signature(fn).parameters
        kwargs = {k: v for k, v in wanted.items() if k in params}
    except (TypeError, ValueError):
        kwargs = {}
    try:
        ev = fn(scenario, **kwargs)
        overall = ev.overall
        per_class = {
            lat.name: {
                k: _shift(_get(lat, k), overhead_ms) for k in ("mean_ms", "p50_ms", "p95_ms", "p99_ms")
            }
            for lat in ev.latency[:-1]
        }
        tokens = ev.stage("thread_tokens") if hasattr(ev, "stage") else None
        return Predicted(
            source=source,
            mean_ms=_shift(overall.mean_ms, overhead_ms),
            p50_ms=_shift(overall.p50_ms, overhead_ms),
            p95_ms=_shift(overall.p95_ms, overhead_ms),
            p99_ms=_shift(overall.p99_ms, overhead_ms),
            per_class=per_class,
            # The simulator has no analytic saturation rate: past saturation its own throughput is one.
            max_rps=_get(ev, "max_rps")
            or (_get(ev, "throughput_rps") if _get(ev, "stable") is False else None)
            or _saturation(ev),
            stable=_get(ev, "stable"),
            token_utilization=_get(tokens, "utilization") if tokens is not None else None,
            cpu_utilization=_get(ev, "cpu_utilization_worker"),
            bottleneck=_get(ev, "bottleneck"),
        )
    except Exception as exc:  # someone else's code: a failure is reported in the table, not fatal
        return _failed(source, exc)


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
    scenario: Scenario, cpu_ms: dict[str, float], rps: float, handoff_ms: float | None
) -> Scenario:
    """`scenario` at `rps` with the CPU per class the server spent and, if given, this token hand-off."""
    endpoints = [e.model_copy(update={"cpu_ms": cpu_ms.get(e.name, e.cpu_ms)}) for e in scenario.endpoints]
    traffic = Traffic(rps=rps, peak_factor=1.0, arrival_cv2=scenario.traffic.arrival_cv2)
    update: dict[str, object] = {"traffic": traffic, "endpoints": endpoints}
    if handoff_ms is not None:
        update["runtime"] = scenario.runtime.model_copy(update={"token_handoff_ms": handoff_ms})
    return scenario.model_copy(update=update)


def repredict(report: ValidationReport, seed: int = 1) -> ValidationReport:
    """The report with the model's and simulator's predictions recomputed from its stored calibration.

    Measurements are untouched; use it when the model or simulator has changed since the run.
    """
    scenario = Scenario.model_validate(report.scenario)
    cal = report.calibration
    points = []
    for p in report.points:
        emulated = emulated_scenario(scenario, cal.cpu_ms_emulated, p.rps, cal.handoff_ms_model)
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
