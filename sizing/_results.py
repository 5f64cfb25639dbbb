"""Result models of `evaluate`, `recommend` and `simulate` (JSON out; a public format like the scenario).

Unbounded quantities (the wait of an unstable stage) are `None`, never inf or NaN, so every result
serialises to strict JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Evaluation",
    "Finding",
    "Latency",
    "Recommendation",
    "Setting",
    "Stage",
    "find_stage",
]

StageName = Literal["event_loop", "cpu", "thread_tokens", "db_pool", "http_pool"]
Severity = Literal["info", "warning", "critical"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Stage(_Out):
    """One queue inside a worker process (all numbers per worker process)."""

    name: StageName
    servers: int = Field(description="Tokens, connections, or 1 for the loop and the CPU")
    arrival_rps: float = Field(description="Visits per second to this stage, per worker")
    hold_ms: float = Field(description="Mean time a visit holds a server")
    hold_cv2: float = Field(description="Squared coefficient of variation of the hold time")
    utilization: float = Field(description="Offered load / servers; >= 1 is unstable")
    stable: bool
    p_wait: float = Field(description="Probability that a visit waits")
    wait_mean_ms: float | None = Field(description="Mean wait per visit; None when unstable")
    wait_p99_ms: float | None = Field(description="99th percentile of the wait per visit; None when unstable")
    method: str = Field(description="The formula or approximation behind the wait")


def find_stage(stages: list[Stage], name: str) -> Stage | None:
    """The stage called `name`, or None (shared by evaluations and simulation results)."""
    return next((s for s in stages if s.name == name), None)


class Latency(_Out):
    """End-to-end latency of one request class (or of all requests: name "overall"), in ms."""

    name: str
    share: float
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    method: str


class Finding(_Out):
    code: str
    severity: Severity
    message: str


class Evaluation(_Out):
    """What a deployment does at the scenario's peak rate."""

    rps: float = Field(description="The whole service's rate evaluated (rps x peak_factor)")
    rps_per_worker: float
    stable: bool
    stages: list[Stage]
    latency: list[Latency] = Field(description="One per endpoint class, then 'overall'")
    cpu_utilization_worker: float
    cpu_utilization_host: float
    fleet_db_connections: int
    db_connection_budget: int
    max_rps: float = Field(description="Whole-service rate at which the first stage reaches utilization 1")
    bottleneck: StageName
    slo_rps: float | None = Field(description="Highest rate meeting the p99 target; None if none does")
    headroom: float = Field(description="max_rps / evaluated rps; below 1 the peak is past saturation")
    meets_targets: bool
    findings: list[Finding]

    def stage(self, name: StageName) -> Stage | None:
        return find_stage(self.stages, name)

    @property
    def overall(self) -> Latency:
        return self.latency[-1]


class Setting(_Out):
    """One recommended number and what decided it."""

    name: str
    value: int
    reason: str


class Recommendation(_Out):
    feasible: bool
    settings: list[Setting]
    evaluation: Evaluation | None = Field(description="evaluate() of the recommended deployment")
    impossible: list[Finding] = Field(default_factory=list, description="Why no setting meets the targets")
    snippets: dict[str, str] = Field(default_factory=dict, description="Config to paste, by name")

    def value(self, name: str) -> int:
        for s in self.settings:
            if s.name == name:
                return s.value
        raise KeyError(name)
