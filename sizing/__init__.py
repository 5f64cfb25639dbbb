"""Operational sizing for FastAPI services: thread tokens, DB and HTTP pools, workers and hosts.

The public surface is re-exported here; the modules behind it are private (leading underscore).

    >>> import sizing
    >>> s = sizing.Scenario.simple(rps=200, sync_fraction=0.5, upstream_latency_ms=80, db_pool_size=5)
    >>> rec = sizing.recommend(s)                # the smallest deployment meeting the targets at peak
    >>> today = sizing.evaluate(s)               # what the given deployment does, where it breaks, why
"""

from __future__ import annotations

# The queueing core: Erlang B/C, M/M/c, G/G/c, M/M/c/K, staffing and Little's law.
from sizing._erlang import erlang_b, erlang_c

# Figures (plotly, no Streamlit): what the app draws, as pure functions of a scenario.
from sizing._figures import (
    blocking_figure,
    db_budget_figure,
    latency_curve_figure,
    recommended_deployment,
    sensitivity_figure,
    simulation_figure,
    utilization_figure,
    wait_sweep_figure,
)
from sizing._ggc import ggc

# The scenario format and the deployment model.
from sizing._lifecycle import Phase, Step, request_phases
from sizing._little import concurrency, poisson_pool_size
from sizing._min_servers import min_servers
from sizing._mmc import mmc
from sizing._mmck import FiniteQueueResult, mmck
from sizing._model import evaluate, latency_at, stages_at
from sizing._presets import PRESETS, preset
from sizing._queues import QueueResult

# Validation against a real uvicorn server (python -m sizing validate).
from sizing._realserver import ValidationReport, validate
from sizing._recommend import recommend
from sizing._results import Evaluation, Finding, Latency, Recommendation, Setting, Stage
from sizing._scenario import (
    Deployment,
    Endpoint,
    Runtime,
    Scenario,
    Targets,
    Traffic,
    lognormal_cv2_from_p99,
)

# Discrete-event simulation: one worker process request by request, and a fast FIFO G/G/c queue.
from sizing._sim import LatencyHistogram, QueueSimulation, SimulationResult, simulate, simulate_queue

__all__ = [
    "PRESETS",
    "Deployment",
    "Endpoint",
    "Evaluation",
    "Finding",
    "FiniteQueueResult",
    "Latency",
    "LatencyHistogram",
    "Phase",
    "QueueResult",
    "QueueSimulation",
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
    "blocking_figure",
    "concurrency",
    "db_budget_figure",
    "erlang_b",
    "erlang_c",
    "evaluate",
    "ggc",
    "latency_at",
    "latency_curve_figure",
    "lognormal_cv2_from_p99",
    "min_servers",
    "mmc",
    "mmck",
    "poisson_pool_size",
    "preset",
    "recommend",
    "recommended_deployment",
    "request_phases",
    "sensitivity_figure",
    "simulate",
    "simulate_queue",
    "simulation_figure",
    "stages_at",
    "utilization_figure",
    "validate",
    "wait_sweep_figure",
]
