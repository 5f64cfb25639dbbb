"""`SimulationResult`: what `simulate` returns, shaped like `Evaluation` where the two overlap.

Unbounded or undefined values are None, never inf or NaN, so a result serialises to strict JSON.
"""

from __future__ import annotations

from pydantic import Field

from sizing._base import Result
from sizing.model._results import Latency, Stage, StageName, find_stage

__all__ = ["LatencyHistogram", "SimulationResult"]


class LatencyHistogram(Result):
    """End-to-end latency of every measured request, all replications pooled (for plotting)."""

    edges_ms: list[float] = Field(description="Bin edges, ascending; len(counts) + 1 of them")
    counts: list[int] = Field(description="Requests per bin, all classes")
    by_class: dict[str, list[int]] = Field(description="Requests per bin of each class, same edges")
    overflow: int = Field(description="Requests slower than the last edge")


class SimulationResult(Result):
    """One worker process simulated request by request at its share of the peak rate."""

    rps: float = Field(description="Whole-service rate simulated (rps x peak_factor)")
    rps_per_worker: float
    workers: int
    stable: bool = Field(description="False when a stage is past utilization 1 or the backlog grows")
    stages: list[Stage] = Field(description="Per worker, measured; method='simulation'")
    latency: list[Latency] = Field(description="One per endpoint class, then 'overall'")
    throughput_rps: float | None = Field(description="Completions per second, whole service (measured)")
    ci: dict[str, float | None] = Field(
        description="95% half-width of each estimate over the replications, e.g. 'latency.overall.p99_ms'"
    )
    replications: int = Field(description="Replications that ran to the end")
    requests: int = Field(description="Requests simulated, warm-up included, all replications")
    measured_requests: int = Field(description="Requests after the warm-up that completed, all replications")
    seed: int
    warmup_fraction: float
    wall_seconds: float
    requests_per_second: float = Field(description="Simulation speed: requests simulated per wall second")
    truncated: bool = Field(description="Stopped by max_wall_seconds or the progress callback")
    shed_fraction: float = Field(
        default=0.0, description="Share of the measured arrivals refused by admission_limit (0 without one)"
    )
    pool_timeout_fraction: float = Field(
        default=0.0,
        description="Share of the measured requests that failed because their DB checkout waited "
        "db_pool_timeout_ms (a 500, as SQLAlchemy's TimeoutError); their latency is not in `latency`",
    )
    stalls: int = Field(
        default=0,
        description="Times a worker stalled, warm-up included: every thread token held by a request waiting "
        "for a DB connection for over a second (or half db_pool_timeout_ms), as happens when sessions hold "
        "their connections across token passes (db_connection_scope 'request')",
    )
    simulated_s: float = Field(default=0.0, description="Simulated time, all replications, warm-up included")
    first_stall_s: list[float | None] = Field(
        default_factory=list,
        description="Per replication, the simulated time at which its first stall began (None: none came)",
    )
    histogram: LatencyHistogram | None
    notes: list[str] = Field(description="Assumptions and warnings, one sentence each")

    def stage(self, name: StageName) -> Stage | None:
        return find_stage(self.stages, name)

    @property
    def overall(self) -> Latency:
        return self.latency[-1]
