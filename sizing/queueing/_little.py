"""Little's law helpers: concurrency from rate and time, and M/G/inf pool sizing."""

from __future__ import annotations

import numpy as np
import scipy.special as sc
from numpy.typing import ArrayLike, NDArray

from sizing._checks import check_nonnegative, check_open_fraction

__all__ = ["concurrency", "poisson_pool_size"]


def concurrency(rate: ArrayLike, time: ArrayLike) -> float | NDArray[np.float64]:
    """Little's law L = lambda W: mean number in the system from a rate and a mean time in it.

    Parameters
    ----------
    rate : float or array_like
        Throughput lambda (>= 0) per time unit (e.g. requests/second).
    time : float or array_like
        Mean time each item spends in the system (>= 0), same unit (e.g. seconds).

    Returns
    -------
    float or ndarray
        rate * time, broadcast; a float for scalar inputs.

    Examples
    --------
    >>> concurrency(200.0, 0.05)
    10.0
    """
    r = check_nonnegative("rate", rate)
    t = check_nonnegative("time", time)
    if isinstance(r, float) and isinstance(t, float):
        return r * t
    res: NDArray[np.float64] = np.multiply(r, t)
    return res


def poisson_pool_size(
    rate: ArrayLike, mean_hold_time: ArrayLike, epsilon: ArrayLike = 1e-4
) -> int | NDArray[np.int64]:
    """Smallest pool size n with P(N > n) <= epsilon, N ~ Poisson(rate * mean_hold_time).

    N is the number of items in service of an M/G/inf system (any hold-time distribution), e.g. the
    connections an httpx pool holds busy when requests should (almost) never wait for one.

    Parameters
    ----------
    rate : float or array_like
        Arrival rate (>= 0) per time unit.
    mean_hold_time : float or array_like
        Mean time each item is held (>= 0), same unit.
    epsilon : float or array_like
        Allowed probability that more than n are needed, in (0, 1).

    Returns
    -------
    int or ndarray of int64
        Exactly minimal n (checked with the Poisson survival function after the inverse-cdf guess).

    Examples
    --------
    >>> poisson_pool_size(100.0, 0.2)
    39
    """
    r = check_nonnegative("rate", rate)
    h = check_nonnegative("mean_hold_time", mean_hold_time)
    eps = check_open_fraction("epsilon", epsilon)
    scalar = all(isinstance(x, float) for x in (r, h, eps))
    m, e = np.broadcast_arrays(np.multiply(r, h), np.asarray(eps, dtype=np.float64))
    m = np.ascontiguousarray(m, dtype=np.float64).ravel()
    e = np.ascontiguousarray(e).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        # scipy.special rather than scipy.stats: importing scipy.stats costs about a second.
        guess = np.nan_to_num(np.ceil(sc.pdtrik(1.0 - e, np.where(m > 0.0, m, 1.0))), nan=0.0, posinf=0.0)
    n = np.maximum(np.where(m > 0.0, guess, 0.0), 0.0)
    # fix-up: increase while P(N > n) > eps, then decrease while P(N > n - 1) <= eps
    for _ in range(10_000):
        up = (sc.pdtrc(n, m) > e) & (m > 0.0)
        if not up.any():
            break
        n[up] += np.maximum(1.0, np.floor(np.sqrt(m[up])))
    for _ in range(10_000):
        down = (n >= 1.0) & (sc.pdtrc(n - 1.0, m) <= e)
        if not down.any():
            break
        n[down] -= 1.0
    out = n.astype(np.int64).reshape(np.shape(m) if not scalar else ())
    if scalar:
        return int(out)
    return out.reshape(np.broadcast_shapes(np.shape(r), np.shape(h), np.shape(eps)))
