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
