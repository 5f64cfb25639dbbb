"""The discrete-event simulator: the independent check of the model, request by request.

`simulate` runs a scenario's worker process with exact tails and confidence intervals; `simulate_queue`
is a fast FIFO G/G/c queue (many replications advanced in lock step) for checking the queueing core.
Both follow the same request lifecycle as the model (`sizing.scenario.request_phases`), with no shared
arithmetic, so agreement between them means something.

Simulate
    simulate, SimulationResult, LatencyHistogram
    simulate_queue, QueueSimulation
What a finite run shows (the spread of a load test's mean and p99 around the long run)
    simulate_windows, queue_waits
Engine (public for checks against closed forms with laws the scenario format does not offer, such as
exponential steps, and for experiments with hand-built phase programs)
    compile_worker, WorkerSpec, run_program, run_replication, summarise, Summary, hold_floor,
    Sampler, Stream, service_sampler, arrival_sampler, empirical_sampler, sum_sampler
Estimators
    mean_and_half_width, half_width, controlled_mean
"""

from __future__ import annotations

from sizing._base import publish
from sizing.simulation._aggregate import Summary, hold_floor, run_program, summarise
from sizing.simulation._api import simulate
from sizing.simulation._distributions import (
    Sampler,
    Stream,
    arrival_sampler,
    empirical_sampler,
    service_sampler,
    sum_sampler,
)
from sizing.simulation._program import WorkerSpec, compile_worker
from sizing.simulation._queue import QueueSimulation, queue_waits, simulate_queue
from sizing.simulation._result import LatencyHistogram, SimulationResult
from sizing.simulation._stats import controlled_mean, half_width, mean_and_half_width
from sizing.simulation._windows import simulate_windows
from sizing.simulation._worker import run_replication

__all__ = [
    "LatencyHistogram",
    "QueueSimulation",
    "Sampler",
    "SimulationResult",
    "Stream",
    "Summary",
    "WorkerSpec",
    "arrival_sampler",
    "compile_worker",
    "controlled_mean",
    "empirical_sampler",
    "half_width",
    "hold_floor",
    "mean_and_half_width",
    "queue_waits",
    "run_program",
    "run_replication",
    "service_sampler",
    "simulate",
    "simulate_queue",
    "simulate_windows",
    "sum_sampler",
    "summarise",
]

publish(__name__, globals(), __all__)
