"""Sessions held across token passes (`db_connection_scope` "request"): what follows a checkout, and the
slots of FastAPI's max_concurrency on the session dependency (`db_session_max_concurrency`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sizing.model._holds import HeldWaits, phase_moments, wait_var
from sizing.model._latency import Stall, Wait
from sizing.model._stage_queue import StageSolution, Visits, solve_queue
from sizing.model._token_waits import pays_full_wait, scaled_wait, token_wait_pieces
from sizing.scenario._lifecycle import Phase
from sizing.scenario._models import Deployment, Scenario

__all__ = ["Span", "limited", "session_slots", "sessions_cap_db", "span"]

Classes = list[tuple[float, tuple[Phase, ...]]]  # per class: its rate per worker and its phases


@dataclass(frozen=True, slots=True)
class Span:
    """What follows a request-scoped checkout, for one class: the mean and variance of the time the
    connection stays out after the opening DB step with no token wait, and the later token passes, each
    with its `pays_full_wait` flag."""

    mean_ms: float
    var_ms2: float
    later_passes: tuple[bool | None, ...]

    def with_token_wait(self, job: StageSolution, post_scale: float) -> tuple[float, float]:
        """(mean, variance) of the time after the opening step, the later passes' token waits included: as in
        the request's latency, none up to the longest pass and a share `post_scale` of a full wait after it."""
        mean, var = self.mean_ms, self.var_ms2
        if not self.later_passes or job.wait.p_wait <= 0:
            return mean, var
        if not job.stable:
            return math.inf, math.inf
        for flag in self.later_passes:
            if flag is None or flag:
                w = job.wait if flag else scaled_wait(job.wait, post_scale)
                mean, var = mean + w.mean_ms, var + wait_var(w)
        return mean, var


def span(
    phases: tuple[Phase, ...], waits: dict[str, Wait | Stall], held: HeldWaits, unstable: set[str]
) -> Span | None:
    """The class's `Span` (None without a request-scoped checkout): the rest of the opening pass after its
    DB step, every later pass and the exit, with their waits for the core and the httpx pool."""
    mean = var = 0.0
    opened = False
    later: list[bool | None] = []
    no_db = {k: w for k, w in waits.items() if k != "db"}
    flags = iter(pays_full_wait(phases))
    for phase in phases:
        flag = next(flags) if phase.holds == "token" else False
        if not opened:
            at = next((i for i, s in enumerate(phase.steps) if s.connection == "open"), None)
            if at is None:
                continue
            opened = True
            phase = Phase(phase.holds, phase.steps[at + 1 :], phase.handoff_ms)
        elif phase.holds == "token":
            later.append(flag)
        m, v = phase_moments(phase, no_db, unstable, held.of(phase))
        mean, var = mean + m, var + v
    return Span(mean, var, tuple(later)) if opened else None


def limited(scenario: Scenario, dep: Deployment) -> list[bool]:
    """Per class: does it take one of FastAPI's max_concurrency slots of the session dependency?"""
    on = dep.db_session_max_concurrency is not None
    return [on and e.holds_connection_across_passes for e in scenario.endpoints]


def sessions_cap_db(scenario: Scenario, dep: Deployment) -> bool:
    """Every DB user holds a session slot and there are no more slots than connections: no checkout waits."""
    limit = dep.db_session_max_concurrency
    users = [lim for e, lim in zip(scenario.endpoints, limited(scenario, dep), strict=True) if e.uses_db]
    return limit is not None and bool(users) and all(users) and limit <= dep.db_connections_per_worker


def session_slots(
    scenario: Scenario,
    classes: Classes,
    held: HeldWaits,
    waits: dict[str, Wait | Stall],
    token_job: StageSolution,
    post_scale: float,
    dep: Deployment,
    ca2: float,
) -> tuple[tuple[Wait | None, ...], bool]:
    """The wait for a session slot (G/G/N, N = db_session_max_concurrency) of each class that takes one: a
    slot is held from the first pass's token wait to the end of the exit."""
    takes = limited(scenario, dep)
    if not any(takes) or dep.db_session_max_concurrency is None:
        return (), True
    if not token_job.stable:
        return (), False
    slots = Visits()
    for (lam, phases), on in zip(classes, takes, strict=True):
        if not on:
            continue
        pieces = token_wait_pieces(token_job, phases, post_scale)
        mean = math.fsum(w.mean_ms for w in pieces)
        var = math.fsum(wait_var(w) for w in pieces)
        for phase in phases:
            if phase.on_thread:
                m, v = phase_moments(phase, waits, held.unstable, held.of(phase))
                mean, var = mean + m, var + v
        slots.add(lam, mean, var)
    q = solve_queue("db_pool", slots, dep.db_session_max_concurrency, ca2)
    if not q.stable:
        return (), False
    return tuple(q.wait if on else None for on in takes), True
