"""The discrete-event simulator (private): a fast G/G/c queue and a whole FastAPI worker process."""

from __future__ import annotations

from sizing._sim._mmc_fast import QueueSimulation, simulate_queue

__all__ = ["QueueSimulation", "simulate_queue"]
