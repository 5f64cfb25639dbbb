"""M/M/c/K: Poisson arrivals, exponential service, c servers, at most K requests in the system."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.special as sc
from numpy.typing import NDArray

from sizing._checks import (
    check_fraction,
    check_nonnegative,
    check_positive,
    check_servers,
    type_error,
    value_error,
)

__all__ = ["FiniteQueueResult", "mmck"]

MMCK_METHOD = "M/M/c/K exact (birth-death chain in log space)"
# wait-mixture weights below this fraction of the total are dropped (error < 1e-18 absolute)
_NEGLIGIBLE = 1e-18


def _as_scalar(name: str, value: float | NDArray[np.float64]) -> float:
    if not isinstance(value, float):
        raise type_error(name, "a scalar (mmck does not broadcast)", value)
    return value


@dataclass(frozen=True, kw_only=True)
class FiniteQueueResult:
    """Steady state of an M/M/c/K queue; times in the unit of ``mean_service_time``.

    Attributes
    ----------
    blocking_probability
        P(an arrival finds K in the system and is lost) = pi_K (PASTA).
    throughput
        Admitted rate arrival_rate * (1 - blocking_probability).
    utilization
        Per-server busy fraction, throughput * mean_service_time / servers.
    mean_queue_length, mean_in_system
        E[number waiting], E[number in system].
    mean_wait, mean_response
        Mean wait and mean response of admitted requests (Little's law on the admitted stream).
    p_wait
        P(an admitted request waits) = sum_{n=c}^{K-1} pi_n / (1 - pi_K).
    """

    arrival_rate: float
    mean_service_time: float
    servers: int
    capacity: int
    offered_load: float
    blocking_probability: float
    throughput: float
    utilization: float
    mean_queue_length: float
    mean_in_system: float
    mean_wait: float
    mean_response: float
    p_wait: float
    method: str
    # The admitted wait is a mixture: with probability weight[j] it is Erlang(shape[j], rate).
    _weights: NDArray[np.float64] = field(repr=False, compare=False)
    _shapes: NDArray[np.float64] = field(repr=False, compare=False)
    _rate: float = field(repr=False, compare=False)

    def _sf(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        if self._weights.size == 0:
            return np.zeros_like(t)
        x = np.multiply.outer(t * self._rate, np.ones_like(self._shapes))
        # P(Erlang(j, r) > t) = P(Poisson(r t) <= j - 1) = gammaincc(j, r t)
        res: NDArray[np.float64] = sc.gammaincc(self._shapes, x) @ self._weights
        return np.minimum(res, 1.0)

    def p_wait_exceeds(self, t: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
        """P(W > t) for an admitted request, t >= 0; broadcasts over t."""
        tv = check_nonnegative("t", t)
        res = self._sf(np.atleast_1d(np.asarray(tv, dtype=np.float64)).ravel()).reshape(np.shape(tv))
        return float(res) if isinstance(tv, float) else res

    def wait_quantile(self, q: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
        """The q-quantile of the wait of an admitted request, q in [0, 1]; broadcasts over q."""
        qv = check_fraction("q", q)
        qa = np.atleast_1d(np.asarray(qv, dtype=np.float64)).ravel()
        out = np.zeros_like(qa)
        target = 1.0 - qa
        out[qa >= 1.0] = np.inf if self._weights.size else 0.0
        todo = np.flatnonzero((qa < 1.0) & (target < self.p_wait))
        if todo.size:
            tg = target[todo]
            lo = np.zeros_like(tg)
            hi = np.full_like(tg, (self._shapes.max() + 1.0) / self._rate)
            for _ in range(200):
                grow = self._sf(hi) > tg
                if not grow.any():
                    break
                hi[grow] *= 2.0
            for _ in range(200):
                if not (hi - lo > 4.0 * np.finfo(np.float64).eps * hi).any():
                    break
                mid = 0.5 * (lo + hi)
                above = self._sf(mid) > tg
                lo = np.where(above, mid, lo)
                hi = np.where(above, hi, mid)
            out[todo] = 0.5 * (lo + hi)
        res = out.reshape(np.shape(qv))
        return float(res) if isinstance(qv, float) else res


def _stationary(a: float, c: int, k: int) -> NDArray[np.float64]:
    """pi_0..pi_K of the M/M/c/K birth-death chain, computed from log weights."""
    n = np.arange(k + 1, dtype=np.float64)
    log_a = math.log(a)
    logw = np.empty(k + 1)
    logw[: c + 1] = n[: c + 1] * log_a - sc.gammaln(n[: c + 1] + 1.0)
    if k > c:
        logw[c + 1 :] = logw[c] + (n[c + 1 :] - c) * (log_a - math.log(c))
    pi: NDArray[np.float64] = np.exp(logw - sc.logsumexp(logw))
    return pi


def mmck(arrival_rate: float, mean_service_time: float, servers: int, capacity: int) -> FiniteQueueResult:
    """Exact M/M/c/K queue: at most ``capacity`` requests in the system (in service plus waiting).

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate (>= 0) per time unit.
    mean_service_time : float
        Mean exponential service time (> 0), same time unit.
    servers : int
        c >= 1.
    capacity : int
        K >= c, the total number of requests the system holds; arrivals finding K are lost.

    Returns
    -------
    FiniteQueueResult
        Stable at any load (utilization of the offered load may exceed 1). Computed in log space
        (O(K) work), accurate for c in the thousands and K up to ~10^5. Scalar inputs only.

    Examples
    --------
    >>> r = mmck(10.0, 1.0, servers=8, capacity=12)
    >>> round(r.blocking_probability, 6), round(r.mean_wait, 6)
    (0.240229, 0.25902)
    """
    lam = _as_scalar("arrival_rate", check_nonnegative("arrival_rate", arrival_rate))
    s = _as_scalar("mean_service_time", check_positive("mean_service_time", mean_service_time))
    c = check_servers("servers", servers)
    k = check_servers("capacity", capacity)
    if not isinstance(c, int):
        raise type_error("servers", "a scalar (mmck does not broadcast)", servers)
    if not isinstance(k, int):
        raise type_error("capacity", "a scalar (mmck does not broadcast)", capacity)
    if k < c:
        raise value_error("capacity", f"an integer >= servers ({c})", k)
    a = lam * s
    empty = np.empty(0)
    if a == 0.0:
        return FiniteQueueResult(
            arrival_rate=lam,
            mean_service_time=s,
            servers=c,
            capacity=k,
            offered_load=0.0,
            blocking_probability=0.0,
            throughput=0.0,
            utilization=0.0,
            mean_queue_length=0.0,
            mean_in_system=0.0,
            mean_wait=0.0,
            mean_response=s,
            p_wait=0.0,
            method=MMCK_METHOD,
            _weights=empty,
            _shapes=empty,
            _rate=c / s,
        )
    pi = _stationary(a, c, k)
    n = np.arange(k + 1, dtype=np.float64)
    block = float(pi[k])
    admitted = 1.0 - block
    thr = lam * admitted
    l_sys = float(n @ pi)
    lq = float(np.maximum(n[c:] - c, 0.0) @ pi[c:])
    wait_states = pi[c:k] / admitted  # arrivals finding n = c..K-1 in system and admitted
    p_wait = float(min(1.0, wait_states.sum()))
    keep = wait_states > _NEGLIGIBLE * max(p_wait, 1e-300)
    weights = wait_states[keep]
    shapes = (n[c:k] - c + 1.0)[keep]
    return FiniteQueueResult(
        arrival_rate=lam,
        mean_service_time=s,
        servers=c,
        capacity=k,
        offered_load=a,
        blocking_probability=block,
        throughput=thr,
        utilization=thr * s / c,
        mean_queue_length=lq,
        mean_in_system=l_sys,
        mean_wait=lq / thr,
        mean_response=l_sys / thr,
        p_wait=p_wait,
        method=MMCK_METHOD,
        _weights=weights,
        _shapes=shapes,
        _rate=c / s,
    )
