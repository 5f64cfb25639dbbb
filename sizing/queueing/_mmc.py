"""Exact M/M/c: Poisson arrivals, exponential service, c servers, FIFO, infinite waiting room."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sizing._checks import check_nonnegative, check_positive, check_servers
from sizing.queueing._erlang import _erlang_c_core, _erlang_c_scalar
from sizing.queueing._result import QueueResult

__all__ = ["mmc"]

MMC_METHOD = "M/M/c exact (Erlang C)"


def _mmc_scalar(lam: float, s: float, c: int) -> QueueResult:
    a = lam * s
    cf = float(c)
    rho = a / cf
    stable = a < cf
    if stable:
        p = _erlang_c_scalar(cf, a)
        theta = (cf - a) / s
        w = p / theta
    else:
        p, w, theta = 1.0, float("inf"), 0.0
    return QueueResult(
        arrival_rate=lam,
        mean_service_time=s,
        servers=cf,
        arrival_cv2=1.0,
        service_cv2=1.0,
        utilization=rho,
        offered_load=a,
        p_wait=p,
        mean_wait=w,
        mean_queue_length=lam * w,
        mean_response=w + s,
        stable=stable,
        wait_decay_rate=theta,
        method=MMC_METHOD,
    )


def _mmc_arrays(lam: NDArray[np.float64], s: NDArray[np.float64], c: NDArray[np.float64]) -> QueueResult:
    lam, s, c = np.broadcast_arrays(lam, s, c)
    shape = lam.shape
    lam, s, c = (np.ascontiguousarray(x, dtype=np.float64).reshape(-1) for x in (lam, s, c))
    a = lam * s
    rho = a / c
    stable = a < c
    p = _erlang_c_core(c, a)
    with np.errstate(divide="ignore"):
        theta = np.where(stable, (c - a) / s, 0.0)
        w = np.where(stable, p / np.where(stable, theta, 1.0), np.inf)
    ones = np.ones_like(a)

    def r(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return x.reshape(shape)

    return QueueResult(
        arrival_rate=r(lam),
        mean_service_time=r(s),
        servers=r(c),
        arrival_cv2=r(ones),
        service_cv2=r(ones.copy()),
        utilization=r(rho),
        offered_load=r(a),
        p_wait=r(p),
        mean_wait=r(w),
        mean_queue_length=r(lam * w),
        mean_response=r(w + s),
        stable=stable.reshape(shape),
        wait_decay_rate=r(theta),
        method=MMC_METHOD,
    )


def mmc(arrival_rate: ArrayLike, mean_service_time: ArrayLike, servers: ArrayLike) -> QueueResult:
    """Exact steady state of the M/M/c queue (FIFO).

    Parameters
    ----------
    arrival_rate : float or array_like
        Poisson arrival rate lambda (>= 0), per time unit (e.g. requests/second).
    mean_service_time : float or array_like
        Mean of the exponential service time (> 0), in the same time unit (e.g. seconds).
    servers : int or array_like of int
        Number of servers c (integer >= 1).

    Returns
    -------
    QueueResult
        p_wait = Erlang C, mean_wait = C / (c mu - lambda), L_q = lambda W_q, theta = c mu - lambda,
        and the exact wait / response distributions. Unstable inputs (utilization >= 1) give
        ``stable=False``, p_wait 1, infinite means and quantiles (never an exception or NaN).

    Examples
    --------
    >>> r = mmc(arrival_rate=80.0, mean_service_time=0.1, servers=10)
    >>> round(r.p_wait, 6), round(r.mean_wait, 6), round(r.response_quantile(0.99), 4)
    (0.40918, 0.020459, 0.4946)
    """
    lam = check_nonnegative("arrival_rate", arrival_rate)
    s = check_positive("mean_service_time", mean_service_time)
    c = check_servers("servers", servers)
    if isinstance(lam, float) and isinstance(s, float) and isinstance(c, int):
        return _mmc_scalar(lam, s, c)
    return _mmc_arrays(np.asarray(lam), np.asarray(s), np.asarray(c, dtype=np.float64))
