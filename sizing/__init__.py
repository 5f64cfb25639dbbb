"""Operational sizing for FastAPI services: thread tokens, DB and HTTP pools, workers and hosts.

A queueing model of a uvicorn worker (its event loop, AnyIO's thread tokens, the GIL, the DB and httpx
pools) turns what a service does into the numbers to configure, with predicted latency, the bottleneck
and the config to paste. The subpackages are the architecture, each layer importing only those above it:

scenario      the input format and what one request does in a worker      (pydantic)
queueing      Erlang B/C, M/M/c, G/G/c, M/M/c/K, staffing, Little's law    (numpy, scipy)
model         a scenario -> stages, latency, findings, a recommendation
simulation    the independent check: the worker simulated request by request
validation    both checked on a real uvicorn server under load      (extra: validate)
calibration   profiles of a running service (sizing_probe) become a scenario
figures       plotly figures of a scenario                          (extra: figures)
cli           `python -m sizing`

The names below are the everyday API, re-exported from those subpackages.

Describe a service (`sizing.scenario`)
    Scenario, Traffic, Endpoint, Deployment, Targets, Runtime, preset, PRESETS, InputError,
    request_phases, Phase, Step
Evaluate and size it (`sizing.model`)
    evaluate, recommend, latency_at, stages_at,
    Evaluation, Recommendation, Stage, Latency, Finding, Setting
Check the model (`sizing.simulation`, `sizing.validation`)
    simulate, SimulationResult, validate, ValidationReport
Measure a running service (the `sizing_probe` distribution, built from probe/; `sizing.calibration`)
    instrument, calibrate, Calibration

`validate`, `ValidationReport` and the `figures` and `validation` subpackages load on first use, so
`import sizing` pays for neither plotly nor the validation server.

>>> import sizing
>>> s = sizing.Scenario.simple(rps=200, sync_fraction=0.5, upstream_latency_ms=80, db_pool_size=5)
>>> today = sizing.evaluate(s)               # what the given deployment does, where it breaks, why
>>> rec = sizing.recommend(s)                # the smallest deployment meeting the targets at peak
>>> rec.feasible, today.bottleneck
(True, 'thread_tokens')
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sizing.calibration import Calibration, calibrate
from sizing.model import (
    Evaluation,
    Finding,
    Latency,
    Recommendation,
    Setting,
    Stage,
    evaluate,
    latency_at,
    recommend,
    stages_at,
)
from sizing.scenario import (
    PRESETS,
    Deployment,
    Endpoint,
    InputError,
    Phase,
    Runtime,
    Scenario,
    Step,
    Targets,
    Traffic,
    preset,
    request_phases,
)
from sizing.simulation import SimulationResult, simulate

if TYPE_CHECKING:
    from sizing_probe import instrument

    from sizing import cli, figures, model, queueing, scenario, simulation, validation  # noqa: F401
    from sizing.validation import ValidationReport, validate

__version__ = "0.2.0"

__all__ = [
    "PRESETS",
    "Calibration",
    "Deployment",
    "Endpoint",
    "Evaluation",
    "Finding",
    "InputError",
    "Latency",
    "Phase",
    "Recommendation",
    "Runtime",
    "Scenario",
    "Setting",
    "SimulationResult",
    "Stage",
    "Step",
    "Targets",
    "Traffic",
    "ValidationReport",
    "__version__",
    "calibrate",
    "evaluate",
    "instrument",
    "latency_at",
    "preset",
    "recommend",
    "request_phases",
    "simulate",
    "stages_at",
    "validate",
]

# Loaded on first use: name -> the module that defines it.
_LAZY = {"validate": "sizing.validation", "ValidationReport": "sizing.validation", "instrument": "sizing_probe"}
_SUBPACKAGES = ("calibration", "cli", "figures", "model", "queueing", "scenario", "simulation", "validation")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            module = importlib.import_module(_LAZY[name])
        except ModuleNotFoundError as exc:
            if exc.name != "sizing_probe":
                raise
            raise ImportError(
                "sizing.instrument is the probe's: install it with `pip install ./probe` from this repository "
                "(a light distribution of its own, so a service gets no numpy or scipy)"
            ) from None
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"sizing.{name}")
    raise AttributeError(f"module 'sizing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})
