"""Result models of `evaluate`, `recommend` and `simulate` (JSON out; a public format like the scenario).

Unbounded quantities (the wait of an unstable stage) are `None`, never inf or NaN, so every result
serialises to strict JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field

from sizing._base import Result
from sizing.scenario import Deployment, Scenario

__all__ = [
    "FINDING_CODES",
    "Evaluation",
    "Finding",
    "FindingCode",
    "Latency",
    "Recommendation",
    "Setting",
    "Severity",
    "Stage",
    "StageName",
    "find_stage",
]

StageName = Literal["event_loop", "cpu", "thread_tokens", "db_pool", "http_pool"]
Severity = Literal["info", "warning", "critical"]
FindingCode = Literal[
    "approximation_uncertain",
    "cpu_impossible",
    "db_pool_timeouts",
    "default_tokens_saturate",
    "event_loop_blocked",
    "fleet_db_over_budget",
    "gil_bound_worker",
    "http_pool_exhaustion",
    "latency_target_impossible",
    "latency_target_missed",
    "low_headroom",
    "pool_token_deadlock",
    "pool_wait_target_missed",
    "receive_livelock",
    "threads_beyond_db_pool",
    "unstable_stage",
    "workers_exceed_cores",
]

# What each code means, for CI scripts that act on `Finding.code` (the docs' findings page lists these).
FINDING_CODES: Mapping[FindingCode, str] = {
    "approximation_uncertain": "the model's p99 is known to run low against the simulator here (thread tokens "
    "busy with heavy-tailed holds); check the tail with `python -m sizing simulate`",
    "cpu_impossible": "(recommend) no worker count keeps the core under max_cpu_utilization within the hosts "
    "and cores allowed",
    "db_pool_timeouts": "the p99 wait for a DB connection passes deployment.db_pool_timeout_ms (SQLAlchemy's "
    "pool_timeout): requests fail",
    "default_tokens_saturate": "AnyIO's default 40 thread tokens are over 85% busy, or saturated, at the peak",
    "event_loop_blocked": "a blocking call inside `async def` holds the event loop for every request",
    "fleet_db_over_budget": "hosts x workers x (pool + overflow) exceeds the database's max_connections "
    "minus its reserved connections",
    "gil_bound_worker": "a worker's core is busier than max_cpu_utilization: more tokens cannot help",
    "http_pool_exhaustion": "an upstream call finds the httpx pool full more often than http_pool_exhaustion",
    "latency_target_impossible": "(recommend) no setting meets the p99 target: the requests' own time is longer",
    "latency_target_missed": "the predicted overall p99 at the peak is above latency_p99_ms",
    "low_headroom": "the service saturates below min_headroom x the peak",
    "pool_token_deadlock": "sessions hold their DB connections across token passes and the evaluated rate is "
    "above stall_rps, or within min_headroom of it: a worker can stall with every token held by a waiting "
    "checkout until pool_timeout fails them",
    "pool_wait_target_missed": "the p99 wait for tokens, DB or httpx connections is above max_pool_wait_p99_ms",
    "receive_livelock": "past a saturated core, a worker that admits everything completes less than at "
    "saturation (the loop parses arrivals the threads cannot serve)",
    "threads_beyond_db_pool": "more thread tokens than DB connections can serve: the extra threads only wait "
    "for a connection while holding a token",
    "unstable_stage": "a stage is past utilization 1 at the evaluated rate: its queue grows without bound",
    "workers_exceed_cores": "more uvicorn workers per host than cores",
}


class Stage(Result):
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


class Latency(Result):
    """End-to-end latency of one request class (or of all requests: name "overall"), in ms."""

    name: str
    share: float
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    method: str


class Finding(Result):
    """Something wrong or risky in a deployment, with the fix in the message (codes: FINDING_CODES)."""

    code: FindingCode
    severity: Severity
    message: str


class Evaluation(Result):
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
    stall_rps: float | None = Field(
        default=None,
        description="Highest whole-service rate at which the fleet's expected time to a first stall anywhere "
        "(hosts x workers) is at least 24 hours, for sessions that hold their DB connection across token passes "
        "(db_connection_scope 'request'); at most max_rps. None: the pattern cannot stall",
    )
    stall_burst: int | None = Field(
        default=None,
        description="Requests arriving at one idle worker at once that stall it (thread_tokens + pool + "
        "overflow); None: the pattern cannot stall",
    )
    meets_targets: bool
    findings: list[Finding]

    def stage(self, name: StageName) -> Stage | None:
        return find_stage(self.stages, name)

    @property
    def overall(self) -> Latency:
        return self.latency[-1]


class Setting(Result):
    """One recommended number and what decided it."""

    name: str
    value: int
    reason: str


class Recommendation(Result):
    """The smallest deployment meeting the targets at the peak, each number with what decided it."""

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

    def deployment_for(self, scenario: Scenario) -> Deployment | None:
        """`scenario`'s deployment with these settings applied; None when nothing was sized (infeasible)."""
        if self.evaluation is None:
            return None
        return scenario.deployment.model_copy(update={s.name: s.value for s in self.settings})
