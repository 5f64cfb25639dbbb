"""The stall of a worker whose sessions hold their DB connections across token passes.

A `def` request whose session checks a connection out in one pass keeps it while it waits for the token of
its next pass. A checkout that finds the pool empty waits holding its token. Once every token is held by
such a checkout and every connection by a request waiting for a token, nothing moves until the checkouts
time out (`db_pool_timeout_ms`): the worker stalls. A burst of c + P requests (c tokens, P connections)
does it to an idle worker (`stall_burst`).

The risk at a rate is read from a birth-death chain on the number n of requests in the worker: arrivals at
the worker's rate, completions at min(n / R0, capacity), with R0 a request's time in the worker at no load
(every phase, the exit included) and the capacity the rate at which the busiest of the core, the event loop
and the pools would saturate with their holds at this load (a request-scoped connection's hold includes
the later passes' token waits, from the fixed point). The thread tokens are left out: their filling up is
the stall itself. The expected first-passage time from an empty worker to n = c + P is the time to the
first stall (the classic birth-death sum). Burstier arrivals (arrival_cv2 > 1) fatten the chain's tail as
they do a queue's in heavy traffic: each step's log-ratio is scaled by 2 / (1 + arrival_cv2).

Against the simulator (`python bench/stall.py`, four deployments from 0.6 to 1.0 of max_rps, stalls within
half a simulated hour) the chain's times are 0.13 to 1.7 times the simulated ones: mostly early, which errs
on the side of a lower `stall_rps`.
"""

from __future__ import annotations

import math

from sizing.model._results import StageName
from sizing.model._worker import WorkerSolution, solve_worker
from sizing.scenario._lifecycle import request_phases
from sizing.scenario._models import Deployment, Scenario

__all__ = ["FLEET_HORIZON_S", "stall_burst", "stall_rps", "stall_time_s"]

FLEET_HORIZON_S = 86_400.0  # stall_rps: a first stall anywhere in the fleet expected after a day at least
# Times past this are reported as "never" (inf): far beyond any horizon, and safe in floating point.
_NEVER_S = 1e30
_BISECT_STEPS = 40
_RESOURCES: tuple[StageName, ...] = ("cpu", "event_loop", "db_pool", "http_pool")


def stall_burst(scenario: Scenario, deployment: Deployment | None = None) -> int | None:
    """Requests arriving at one idle worker at once that stall it: tokens + connections per worker, when a
    request-scoped session holds its connection into a later pass (None: the pattern cannot stall).

    The burst takes the tokens a pass at a time in FIFO order. Once all of it has reached the pass that
    checks out, the first P get connections and go to the back of the token queue for their next pass; each
    token they free goes to the next request of the burst, which waits for a connection holding it. With
    c + P requests, the c tokens end up with waiting checkouts and the P connections with requests that
    need a token: a stall. With one request fewer a token stays free for the holders.
    """
    dep = deployment or scenario.deployment
    if not _can_stall(scenario, dep):
        return None
    return dep.thread_tokens + dep.db_connections_per_worker


def _can_stall(scenario: Scenario, dep: Deployment) -> bool:
    """Some request holds its connection into a later token pass, and FastAPI's max_concurrency on the
    session dependency does not rule the stall out.

    The stall needs every connection held by a request waiting for a token, and those are session holders.
    With fewer session slots than connections that never happens; with as many, only when some other DB
    user (a session per pass, holding a token) could be the one waiting for a connection with every token.
    """
    spans = [
        e for e in scenario.endpoints
        if e.share > 0 and e.holds_connection_across_passes and e.db_first_use_pass < e.token_passes
    ]
    if not spans:
        return False
    limit = dep.db_session_max_concurrency
    if limit is None:
        return True
    others = any(e.uses_db and e.share > 0 and not e.holds_connection_across_passes for e in scenario.endpoints)
    connections = dep.db_connections_per_worker
    return not (limit < connections or (limit == connections and not others))


def stall_time_s(scenario: Scenario, rps: float, deployment: Deployment | None = None) -> float | None:
    """Expected seconds from an empty pool to one worker's first stall when the whole service receives `rps`
    (math.inf past any horizon; None when the pattern cannot stall); 0 when a stage is already saturated."""
    dep = deployment or scenario.deployment
    if not _can_stall(scenario, dep):
        return None
    return _time_s(scenario, rps, dep, _bare_ms(scenario))


def _bare_ms(scenario: Scenario) -> float:
    """A request's time in the worker at no load, every phase and the exit, averaged over the classes."""
    return math.fsum(e.share * sum(p.hold_ms for p in request_phases(e, scenario.runtime)) for e in scenario.endpoints)


def _time_s(scenario: Scenario, rps: float, dep: Deployment, bare_ms: float) -> float:
    return _first_passage_s(solve_worker(scenario, rps, dep), dep, bare_ms, scenario.traffic.arrival_cv2)


def stall_rps(scenario: Scenario, deployment: Deployment | None = None, *, saturation_rps: float) -> float | None:
    """The highest whole-service rate at which the fleet's expected time to a first stall anywhere (workers
    stall independently, so the fleet's rate of stalls is the workers' sum) is at least `FLEET_HORIZON_S`;
    at most `saturation_rps`. None when the pattern cannot stall."""
    dep = deployment or scenario.deployment
    if not _can_stall(scenario, dep):
        return None
    need = FLEET_HORIZON_S * dep.workers
    bare_ms = _bare_ms(scenario)

    def safe(rps: float) -> bool:
        return _time_s(scenario, rps, dep, bare_ms) >= need

    if safe(saturation_rps):
        return saturation_rps
    lo, hi = 0.0, saturation_rps
    for _ in range(_BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        if safe(mid):
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-3 * hi:
            break
    return lo


def _first_passage_s(sol: WorkerSolution, dep: Deployment, phases_ms: float, arrival_cv2: float) -> float:
    if not sol.stable:
        return 0.0
    lam = sol.rps_per_worker / 1000.0  # per ms
    if lam <= 0:
        return math.inf
    busiest = max(sol.stages[name].utilization for name in _RESOURCES)
    if busiest >= 1.0:
        return 0.0
    capacity = lam / busiest if busiest > 0 else math.inf
    theta = 2.0 / (1.0 + arrival_cv2)
    log_lam = math.log(lam)
    log_pi = 0.0  # log of the chain's unnormalised stationary weight at n
    log_cum = 0.0  # log of the sum of the weights up to n
    total_ms = 0.0
    for n in range(dep.thread_tokens + dep.db_connections_per_worker):
        # Up from n: expected time = (sum of weights up to n) / (lambda x weight at n).
        total_ms += math.exp(min(log_cum - log_lam - log_pi, 700.0))
        if total_ms > _NEVER_S * 1000.0:
            return math.inf
        mu = min((n + 1) / phases_ms, capacity)
        log_pi += theta * (log_lam - math.log(mu))
        log_cum = _log_add(log_cum, log_pi)
    return total_ms / 1000.0


def _log_add(a: float, b: float) -> float:
    hi, lo = (a, b) if a >= b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))
