"""The discrete-event simulator (private): a fast G/G/c queue and a whole FastAPI worker process."""

from __future__ import annotations

from sizing._sim._api import simulate
from sizing._sim._mmc_fast import QueueSimulation, simulate_queue
from sizing._sim._result import LatencyHistogram, SimulationResult

__all__ = ["LatencyHistogram", "QueueSimulation", "SimulationResult", "simulate", "simulate_queue"]
