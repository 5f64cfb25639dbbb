"""Predictions from whichever of the analytic model and the simulator exist, imported lazily.

`sizing.evaluate` and `sizing.simulate` are written by others; until one exists its column is "n/a".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

from sizing._realserver._report import Predicted
from sizing._scenario import Scenario

__all__ = ["predict", "predictor"]

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
