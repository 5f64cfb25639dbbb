"""Operational sizing for FastAPI services: thread tokens, DB and HTTP pools, workers and hosts.

The public surface is re-exported here; the modules behind it are private (leading underscore).
"""

from __future__ import annotations

__all__: list[str] = []

# Validation against a real uvicorn server (python -m sizing validate); light to import.
from sizing._realserver import ValidationReport, validate

__all__ += ["ValidationReport", "validate"]

# Discrete-event simulation: one worker process request by request, and a fast FIFO G/G/c queue.
from sizing._sim import LatencyHistogram, QueueSimulation, SimulationResult, simulate, simulate_queue  # noqa: E402

__all__ += ["LatencyHistogram", "QueueSimulation", "SimulationResult", "simulate", "simulate_queue"]

# The scenario format and the deployment model.
from sizing._lifecycle import Phase, Step, request_phases  # noqa: E402
from sizing._model import evaluate, latency_at, stages_at  # noqa: E402
from sizing._presets import PRESETS, preset  # noqa: E402
from sizing._recommend import recommend  # noqa: E402
from sizing._results import Evaluation, Finding, Latency, Recommendation, Setting, Stage  # noqa: E402
from sizing._scenario import (  # noqa: E402
    Deployment,
    Endpoint,
    Runtime,
    Scenario,
    Targets,
    Traffic,
    lognormal_cv2_from_p99,
)

__all__ += [
    "PRESETS",
    "Deployment",
    "Endpoint",
    "Evaluation",
    "Finding",
    "Latency",
    "Phase",
    "Recommendation",
    "Runtime",
    "Scenario",
    "Setting",
    "Stage",
    "Step",
    "Targets",
    "Traffic",
    "evaluate",
    "latency_at",
    "lognormal_cv2_from_p99",
    "preset",
    "recommend",
    "request_phases",
    "stages_at",
]

# The queueing core: Erlang B/C, M/M/c, G/G/c, M/M/c/K, staffing and Little's law.
from sizing._erlang import erlang_b, erlang_c  # noqa: E402
from sizing._ggc import ggc  # noqa: E402
from sizing._little import concurrency, poisson_pool_size  # noqa: E402
from sizing._min_servers import min_servers  # noqa: E402
from sizing._mmc import mmc  # noqa: E402
from sizing._mmck import FiniteQueueResult, mmck  # noqa: E402
from sizing._queues import QueueResult  # noqa: E402

__all__ += [
    "FiniteQueueResult",
    "QueueResult",
    "concurrency",
    "erlang_b",
    "erlang_c",
    "ggc",
    "min_servers",
    "mmc",
    "mmck",
    "poisson_pool_size",
]

# Figures (plotly, no Streamlit): what the app draws, as pure functions of a scenario.
from sizing._figures import (  # noqa: E402
    blocking_figure,
    db_budget_figure,
    latency_curve_figure,
    recommended_deployment,
    sensitivity_figure,
    simulation_figure,
    utilization_figure,
    wait_sweep_figure,
)

__all__ += [
    "blocking_figure",
    "db_budget_figure",
    "latency_curve_figure",
    "recommended_deployment",
    "sensitivity_figure",
    "simulation_figure",
    "utilization_figure",
    "wait_sweep_figure",
]
