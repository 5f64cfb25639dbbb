"""Smallest number of servers meeting waiting-time targets (M/M/c exact, or the G/G/c approximations)."""

from __future__ import annotations

import math
from collections.abc import Callable

from sizing._checks import check_fraction, check_nonnegative, check_positive, type_error
from sizing.queueing._erlang import _erlang_c_scalar
from sizing.queueing._ggc import _ggc_wait_scalar, _log_inv_alpha_scalar

__all__ = ["min_servers"]

MAX_SERVERS = 10**7


def _pair(name: str, value: object, first: str, second: str) -> tuple[float, float]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise type_error(name, f"a pair ({first}, {second})", value)
    return value[0], value[1]


def _hw_guess(a: float, max_p_wait: float | None) -> int:
    """Square-root staffing guess c = a + beta sqrt(a) from the Halfin-Whitt delay probability."""
    beta = 1.0
    if max_p_wait is not None and 0.0 < max_p_wait < 1.0:
        # alpha(beta) = 1/(1 + beta Phi/phi) is decreasing; bisect log(1/alpha) = log(1/P).
        goal = -math.log(max_p_wait)
        lo, hi = 0.0, 8.0
        for _ in range(10):
            mid = 0.5 * (lo + hi)
            if _log_inv_alpha_scalar(mid) < goal:
                lo = mid
            else:
                hi = mid
        beta = hi
    return math.floor(a) + max(1, math.ceil(beta * math.sqrt(a)))


def _search(meets: Callable[[int], bool], first_stable: int, start: int) -> int:
    """Smallest c >= first_stable with meets(c), given meets is monotone in c (False below, True above).

    Brackets from ``start`` with doubling steps (down while met, up while not), then bisects.
    first_stable - 1 is known to fail (unstable or zero servers).
    """
    lo = first_stable - 1  # fails
    start = min(max(start, first_stable), MAX_SERVERS)
    step = 1
    if meets(start):
        hi = start
        while True:
            cand = hi - step
            if cand <= lo:
                break
            if meets(cand):
                hi = cand
                step *= 2
            else:
                lo = cand
                break
    else:
        lo = start
        while True:
            cand = lo + step
            if cand > MAX_SERVERS:
                if meets(MAX_SERVERS):
                    hi = MAX_SERVERS
                    break
                raise ValueError(
                    f"the targets need more than {MAX_SERVERS} servers; check the units of the inputs"
                )
            if meets(cand):
                hi = cand
                break
            lo = cand
            step *= 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return hi


def min_servers(
    arrival_rate: float,
    mean_service_time: float,
    *,
    max_p_wait: float | None = None,
    max_mean_wait: float | None = None,
    service_level: tuple[float, float] | None = None,
    max_wait_quantile: tuple[float, float] | None = None,
    arrival_cv2: float = 1.0,
    service_cv2: float = 1.0,
) -> int:
    """The smallest integer number of servers c meeting every given target.

    Parameters
    ----------
    arrival_rate : float
        Arrival rate lambda (>= 0) per time unit (e.g. requests/second).
    mean_service_time : float
        Mean service time (> 0), same time unit (e.g. seconds).
    max_p_wait : float, optional
        Upper bound on P(wait > 0), in [0, 1].
    max_mean_wait : float, optional
        Upper bound on the mean wait E[W] (>= 0), in the time unit.
    service_level : (t, fraction), optional
        Require P(W <= t) >= fraction (t >= 0 in the time unit, fraction in [0, 1]).
    max_wait_quantile : (q, t), optional
        Require the q-quantile of the wait to be <= t (q in [0, 1], t >= 0), i.e. P(W > t) <= 1 - q.
    arrival_cv2, service_cv2 : float
        Squared coefficients of variation; both 1 selects the exact M/M/c (:func:`sizing.mmc`),
        anything else the G/G/c approximations of :func:`sizing.ggc`.

    Returns
    -------
    int
        c such that c meets every target and c - 1 fails one (or is unstable). At least one target
        must be given. Targets that no finite c meets when lambda > 0 (``max_p_wait=0``,
        ``max_mean_wait=0``, a service level or quantile of 1) raise ValueError, as does a need for
        more than 10^7 servers.

    Notes
    -----
    The metrics are monotone in c, so the search brackets from a Halfin-Whitt square-root-staffing
    guess (clamped to floor(a) + 1, the smallest stable c) with doubling steps, then bisects:
    O(log) evaluations, each O(1) (scalar math-module Erlang C).

    Examples
    --------
    >>> min_servers(100.0, 0.1, max_p_wait=0.2)
    14
    >>> min_servers(100.0, 0.1, service_level=(0.02, 0.95))
    15
    """
    lam = check_nonnegative("arrival_rate", arrival_rate)
    s = check_positive("mean_service_time", mean_service_time)
    ca2 = check_nonnegative("arrival_cv2", arrival_cv2)
    cs2 = check_nonnegative("service_cv2", service_cv2)
    if not all(isinstance(x, float) for x in (lam, s, ca2, cs2)):
        raise ValueError("min_servers takes scalar inputs; loop over arrays")
    p_max = None if max_p_wait is None else check_fraction("max_p_wait", max_p_wait)
    w_max = None if max_mean_wait is None else check_nonnegative("max_mean_wait", max_mean_wait)
    tails: list[tuple[float, float]] = []  # (t, allowed P(W > t))
    if service_level is not None:
        t, frac = _pair("service_level", service_level, "t", "fraction")
        tails.append((check_nonnegative("service_level.t", t), 1.0 - check_fraction("service_level.fraction", frac)))
    if max_wait_quantile is not None:
        q, t = _pair("max_wait_quantile", max_wait_quantile, "q", "t")
        tails.append((check_nonnegative("max_wait_quantile.t", t), 1.0 - check_fraction("max_wait_quantile.q", q)))
    if p_max is None and w_max is None and not tails:
        raise ValueError(
            "min_servers needs at least one target: max_p_wait, max_mean_wait, service_level or max_wait_quantile"
        )
    assert isinstance(lam, float) and isinstance(s, float) and isinstance(ca2, float) and isinstance(cs2, float)
    if lam == 0.0:
        return 1
    exact = ca2 == 1.0 and cs2 == 1.0
    if not (ca2 == 0.0 and cs2 == 0.0):
        zero = []
        if p_max == 0.0:
            zero.append("max_p_wait=0")
        if w_max == 0.0:
            zero.append("max_mean_wait=0")
        if any(allowed == 0.0 for _, allowed in tails):
            zero.append("a service level or wait quantile of 1")
        if zero:
            raise ValueError(
                f"{', '.join(zero)} cannot be met with finitely many servers: with arrival_rate > 0 "
                "some arrivals always wait (p_wait > 0 for every c)"
            )
    a = lam * s
    first_stable = math.floor(a) + 1
    if first_stable > MAX_SERVERS:
        raise ValueError(
            f"the offered load {a:g} needs more than {MAX_SERVERS} servers; check the units of the inputs"
        )

    def meets(c: int) -> bool:
        cf = float(c)
        if exact:
            p = _erlang_c_scalar(cf, a)
            theta = (cf - a) / s
            w = p / theta
        else:
            p, w = _ggc_wait_scalar(lam, s, cf, ca2, cs2)
            theta = p / w if p > 0.0 else math.inf
        if p_max is not None and p > p_max:
            return False
        if w_max is not None and w > w_max:
            return False
        return all(not (p > allowed and p * math.exp(-theta * t) > allowed) for t, allowed in tails)

    return _search(meets, first_stable, _hw_guess(a, p_max))
