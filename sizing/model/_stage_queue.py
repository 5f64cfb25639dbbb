"""One stage of a worker as a G/G/c queue: the visits it gets, and its solution at a rate.

`solve_queue` turns the rate-weighted hold-time moments of a stage's visits into its utilization, P(wait)
and wait law (`sizing.ggc`, with the sharper tail of `wait_tail_shape` for holds less variable than
exponential); `sizing.model._worker` solves the stages of a worker in order with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sizing.model._latency import Wait
from sizing.model._results import Stage, StageName
from sizing.queueing._ggc import _wait_tail_shape, ggc

__all__ = ["IDLE", "StageSolution", "Visits", "solve_queue"]

IDLE = Wait(0.0, 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class StageSolution:
    name: StageName
    servers: int
    arrival_rps: float
    hold_ms: float
    hold_cv2: float
    utilization: float
    stable: bool
    p_wait: float
    wait: Wait
    wait_p99_ms: float
    method: str

    def to_result(self) -> Stage:
        finite = self.stable
        return Stage(
            name=self.name,
            servers=self.servers,
            arrival_rps=self.arrival_rps,
            hold_ms=self.hold_ms,
            hold_cv2=self.hold_cv2,
            utilization=self.utilization,
            stable=self.stable,
            p_wait=self.p_wait,
            wait_mean_ms=self.wait.mean_ms if finite else None,
            wait_p99_ms=self.wait_p99_ms if finite else None,
            method=self.method,
        )


@dataclass(slots=True)
class Visits:
    """Visits to a stage: rate-weighted hold-time moments (per second, ms, ms^2)."""

    rate: float = 0.0
    first: float = 0.0
    second: float = 0.0
    count: int = 0

    def add(self, rate: float, mean_ms: float, var_ms2: float) -> None:
        self.rate += rate
        self.first += rate * mean_ms
        self.second += rate * (var_ms2 + mean_ms * mean_ms)
        self.count += 1

    @property
    def mean_ms(self) -> float:
        return self.first / self.rate if self.rate > 0 else 0.0

    @property
    def cv2(self) -> float:
        if self.rate <= 0 or self.first <= 0:
            return 0.0
        m = self.first / self.rate
        return max(self.second / self.rate / (m * m) - 1.0, 0.0)


def solve_queue(name: StageName, visits: Visits, servers: int, arrival_cv2: float) -> StageSolution:
    hold = visits.mean_ms

    def solution(
        *, utilization: float, stable: bool, p_wait: float, wait: Wait, wait_p99_ms: float, method: str,
        hold_cv2: float | None = None,
    ) -> StageSolution:
        return StageSolution(
            name=name, servers=servers, arrival_rps=visits.rate, hold_ms=hold,
            hold_cv2=visits.cv2 if hold_cv2 is None else hold_cv2, utilization=utilization, stable=stable,
            p_wait=p_wait, wait=wait, wait_p99_ms=wait_p99_ms, method=method,
        )

    if visits.rate <= 0 or hold <= 0:
        return solution(utilization=0.0, stable=True, p_wait=0.0, wait=IDLE, wait_p99_ms=0.0, method="idle")
    if servers <= 0 or not math.isfinite(hold):
        # No servers, or a hold that includes an unbounded wait for an inner stage past saturation.
        return solution(
            hold_cv2=visits.cv2 if math.isfinite(hold) else 0.0, utilization=math.inf, stable=False, p_wait=1.0,
            wait=IDLE, wait_p99_ms=math.inf,
            method="no servers" if servers <= 0 else "an inner stage is past saturation",
        )
    q = ggc(visits.rate, hold / 1000.0, servers, arrival_cv2=arrival_cv2, service_cv2=visits.cv2)
    util = float(q.utilization)
    if not q.stable:
        return solution(utilization=util, stable=False, p_wait=1.0, wait=IDLE, wait_p99_ms=math.inf, method=q.method)
    p = float(q.p_wait)
    wait = IDLE
    if p > 0:
        # ggc's exponential tail, sharpened for holds less variable than exponential (wait_tail_shape).
        shift_s, rate = _wait_tail_shape(
            visits.rate, hold / 1000.0, servers, arrival_cv2, visits.cv2, p, float(q.mean_wait)
        )
        wait = Wait(p, rate / 1000.0, shift_s * 1000.0)
    p99 = wait.quantile_ms(0.99)
    method = q.method
    if wait.shift_ms > 0:
        method += "; for hold cv2 < 1 the conditional wait is a shift plus an exponential at the Lundberg decay rate"
    return solution(utilization=util, stable=True, p_wait=p, wait=wait, wait_p99_ms=p99, method=method)
