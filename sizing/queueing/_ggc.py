"""G/G/c approximations (stated, with error bands measured against simulation in tests/test_ggc.py).

* Mean wait: Whitt (1993, "Approximations for the GI/G/m queue", Production and Operations
  Management 2(2)): E[W] ~ phi(rho, ca2, cs2, c) * (ca2 + cs2)/2 * E[W; M/M/c], where phi contains
  Cosmetatos' correction for near-deterministic service (for M/D/c: phi = 1 + gamma,
  gamma = min(0.24, (1 - rho)(c - 1)(sqrt(4 + 5c) - 2)/(16 c rho))). For c = 1 and ca2 = 1 phi is
  set to 1, which is the exact Pollaczek-Khinchine formula for M/G/1.
* P(wait): Erlang C corrected by the Halfin-Whitt heavy-traffic ratio for the arrival variability
  only, P ~ C(c, a) * alpha(beta / sqrt(z_a)) / alpha(beta), beta = (1 - rho) sqrt(c),
  z_a = (ca2 + 1)/2, alpha(x) = 1 / (1 + x Phi(x)/phi(x)); clipped to [0, 1]. It is exactly
  Erlang C for Poisson arrivals (so exactly rho for M/G/1), whatever the service variability
  (the delay probability of M/G/c is nearly insensitive to the service distribution).
* Wait distribution: atom 1 - p_wait at 0, exponential tail with mean mean_wait / p_wait.
* Service: gamma with the given mean and cv2 (exponential for 1, deterministic for 0).

`wait_tail_shape` (used by the deployment model's latency distributions, not by `ggc`'s own quantiles)
refines the tail for service less variable than exponential: a waiting customer's wait becomes a shift plus
an exponential whose rate is the decay rate of the "fast single server" (arrivals as given, each service
divided by c), the root of the Lundberg equation A*(eta) M_S(eta / c) = 1 with gamma inter-arrivals and
gamma service. For M/D/c that root is the exact decay rate (it is Crommelin's z^c = exp(lambda D (z - 1))
with eta = c ln(z) / D); for M/M/c it is c mu - lambda, the exact Erlang C rate. The shift keeps the mean.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sc
from numpy.typing import ArrayLike, NDArray

from sizing._checks import check_fraction, check_nonnegative, check_positive, check_servers
from sizing.queueing._erlang import _erlang_c_core, _erlang_c_scalar
from sizing.queueing._mmc import mmc
from sizing.queueing._result import QueueResult

__all__ = ["ggc", "lundberg_rate", "wait_tail_shape"]

GGC_METHOD = (
    "Whitt (1993) phi-refined Allen-Cunneen mean wait; Erlang C with Halfin-Whitt scaling "
    "z=(ca2+1)/2 for P(wait); exponential conditional wait; gamma service"
)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# ----------------------------------------------------------------------------------------------
# scalar (math module) versions, used by min_servers


def _log_inv_alpha_scalar(x: float) -> float:
    """log(1/alpha(x)) = log1p(x Phi(x)/phi(x)) for x >= 0."""
    if x <= 0.0:
        return 0.0
    log_ratio = math.log(0.5 * math.erfc(-x / math.sqrt(2.0))) + 0.5 * x * x + _LOG_SQRT_2PI
    u = math.log(x) + log_ratio
    return u + math.log1p(math.exp(-u)) if u > 0.0 else math.log1p(math.exp(u))


def _whitt_phi_scalar(rho: float, ca2: float, cs2: float, c: float) -> float:
    if ca2 == 0.0 and cs2 == 0.0:
        return 1.0
    if c == 1.0 and ca2 == 1.0:
        return 1.0
    gamma = min(0.24, (1.0 - rho) * (c - 1.0) * (math.sqrt(4.0 + 5.0 * c) - 2.0) / (16.0 * c * rho))
    phi1 = 1.0 + gamma
    phi3 = (1.0 - 4.0 * gamma) * math.exp(-2.0 * (1.0 - rho) / (3.0 * rho))
    phi4 = min(1.0, 0.5 * (phi1 + phi3))
    z = 0.5 * (ca2 + cs2)
    psi = 1.0 if z >= 1.0 else phi4 ** (2.0 * (1.0 - z))
    if ca2 >= cs2:
        den = 4.0 * ca2 - 3.0 * cs2
        return 4.0 * (ca2 - cs2) / den * phi1 + cs2 / den * psi
    den = 2.0 * (ca2 + cs2)
    return (cs2 - ca2) / den * phi3 + (cs2 + 3.0 * ca2) / den * psi


def _ggc_wait_scalar(lam: float, s: float, c: float, ca2: float, cs2: float) -> tuple[float, float]:
    """(p_wait, mean_wait) for a stable queue with lam > 0."""
    a = lam * s
    rho = a / c
    erl = _erlang_c_scalar(c, a)
    z = 0.5 * (ca2 + cs2)
    w = _whitt_phi_scalar(rho, ca2, cs2, c) * z * erl * s / (c - a)
    beta = (1.0 - rho) * math.sqrt(c)
    za = 0.5 * (ca2 + 1.0)
    scaled = beta / math.sqrt(za) if za > 0.0 else math.inf
    if erl == 0.0 or scaled == math.inf:
        p = 0.0 if scaled == math.inf else erl
    else:
        p = min(1.0, erl * math.exp(_log_inv_alpha_scalar(beta) - _log_inv_alpha_scalar(scaled)))
    if w == 0.0:
        p = 0.0
    return p, w


def _ggc_scalar(lam: float, s: float, c: float, ca2: float, cs2: float) -> QueueResult:
    """The scalar fast path of `ggc` (the deployment model calls it thousands of times per answer)."""
    a = lam * s
    rho = a / c
    stable = a < c
    if not stable:
        p, w, theta = 1.0, math.inf, 0.0
    elif lam == 0.0:
        p, w, theta = 0.0, 0.0, c / s
    else:
        p, w = _ggc_wait_scalar(lam, s, c, ca2, cs2)
        theta = p / w if p > 0.0 else c / s
    return QueueResult(
        arrival_rate=lam,
        mean_service_time=s,
        servers=c,
        arrival_cv2=ca2,
        service_cv2=cs2,
        utilization=rho,
        offered_load=a,
        p_wait=p,
        mean_wait=w,
        mean_queue_length=lam * w,
        mean_response=w + s,
        stable=stable,
        wait_decay_rate=theta,
        method=GGC_METHOD,
    )


# ----------------------------------------------------------------------------------------------
# vector versions


def _log_inv_alpha(x: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        u = np.log(x) + sc.log_ndtr(x) + 0.5 * x * x + _LOG_SQRT_2PI
    res: NDArray[np.float64] = np.where(x > 0.0, np.logaddexp(0.0, u), 0.0)
    return res


def _whitt_phi(
    rho: NDArray[np.float64], ca2: NDArray[np.float64], cs2: NDArray[np.float64], c: NDArray[np.float64]
) -> NDArray[np.float64]:
    # A subnormal rho overflows gamma and the exponent to inf; the min and exp below take them to their limits.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        gamma = np.minimum(0.24, (1.0 - rho) * (c - 1.0) * (np.sqrt(4.0 + 5.0 * c) - 2.0) / (16.0 * c * rho))
        phi1 = 1.0 + gamma
        phi3 = (1.0 - 4.0 * gamma) * np.exp(-2.0 * (1.0 - rho) / (3.0 * rho))
        phi4 = np.minimum(1.0, 0.5 * (phi1 + phi3))
        z = 0.5 * (ca2 + cs2)
        psi = np.where(z >= 1.0, 1.0, phi4 ** (2.0 * (1.0 - z)))
        den1 = 4.0 * ca2 - 3.0 * cs2
        first = 4.0 * (ca2 - cs2) / den1 * phi1 + cs2 / den1 * psi
        den2 = 2.0 * (ca2 + cs2)
        second = (cs2 - ca2) / den2 * phi3 + (cs2 + 3.0 * ca2) / den2 * psi
        phi = np.where(ca2 >= cs2, first, second)
    res: NDArray[np.float64] = np.where(((ca2 == 0.0) & (cs2 == 0.0)) | ((c == 1.0) & (ca2 == 1.0)), 1.0, phi)
    return res


def _ggc_arrays(
    lam: NDArray[np.float64],
    s: NDArray[np.float64],
    c: NDArray[np.float64],
    ca2: NDArray[np.float64],
    cs2: NDArray[np.float64],
) -> QueueResult:
    lam, s, c, ca2, cs2 = np.broadcast_arrays(lam, s, c, ca2, cs2)
    shape = lam.shape
    lam, s, c, ca2, cs2 = (np.ascontiguousarray(x, dtype=np.float64).reshape(-1) for x in (lam, s, c, ca2, cs2))
    a = lam * s
    rho = a / c
    stable = a < c
    live = stable & (lam > 0.0)
    erl = _erlang_c_core(c, a)
    p = np.where(stable, 0.0, 1.0)
    w = np.where(stable, 0.0, np.inf)
    theta = np.where(stable, c / s, 0.0)  # lam = 0: the M/M/c value c mu - lam
    idx = np.flatnonzero(live)
    if idx.size:
        ai, ci, si, ri = a[idx], c[idx], s[idx], rho[idx]
        cai, csi, ei = ca2[idx], cs2[idx], erl[idx]
        z = 0.5 * (cai + csi)
        wi = _whitt_phi(ri, cai, csi, ci) * z * ei * si / (ci - ai)
        beta = (1.0 - ri) * np.sqrt(ci)
        za = 0.5 * (cai + 1.0)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            scaled = beta / np.sqrt(za)
            pi = np.minimum(1.0, ei * np.exp(_log_inv_alpha(beta) - _log_inv_alpha(scaled)))
        pi = np.where((ei == 0.0) | (wi == 0.0) | ~np.isfinite(scaled), 0.0, pi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            thi = np.where(pi > 0.0, pi / wi, ci / si)
        p[idx], w[idx], theta[idx] = pi, wi, thi

    def r(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return x.reshape(shape)

    return QueueResult(
        arrival_rate=r(lam),
        mean_service_time=r(s),
        servers=r(c),
        arrival_cv2=r(ca2),
        service_cv2=r(cs2),
        utilization=r(rho),
        offered_load=r(a),
        p_wait=r(p),
        mean_wait=r(w),
        mean_queue_length=r(lam * w),
        mean_response=r(w + s),
        stable=stable.reshape(shape),
        wait_decay_rate=r(theta),
        method=GGC_METHOD,
    )


def ggc(
    arrival_rate: ArrayLike,
    mean_service_time: ArrayLike,
    servers: ArrayLike,
    arrival_cv2: ArrayLike = 1.0,
    service_cv2: ArrayLike = 1.0,
) -> QueueResult:
    """Approximate steady state of the G/G/c FIFO queue (M/D/c is ``service_cv2=0``).

    Parameters
    ----------
    arrival_rate : float or array_like
        Arrival rate lambda (>= 0) per time unit.
    mean_service_time : float or array_like
        Mean service time (> 0), same time unit.
    servers : int or array_like of int
        Number of servers c (>= 1).
    arrival_cv2, service_cv2 : float or array_like
        Squared coefficients of variation of inter-arrival and service times (>= 0).

    Returns
    -------
    QueueResult
        With both cv2 equal to 1 this is exactly :func:`sizing.mmc`. Otherwise the approximations in
        the module docstring. Measured against a seeded FIFO simulation over c in {1, 4, 16, 40},
        rho in {0.3, 0.6, 0.8, 0.95}, ca2 in {0.5, 1, 2}, cs2 in {0, 0.5, 1, 2} (tests/test_ggc.py):
        see the README "Queueing core" section for the error bands.

    Examples
    --------
    >>> r = ggc(80.0, 0.1, 10, arrival_cv2=1.0, service_cv2=0.0)   # M/D/10
    >>> round(r.mean_wait, 6), round(r.p_wait, 6)
    (0.010999, 0.40918)
    """
    lam = check_nonnegative("arrival_rate", arrival_rate)
    s = check_positive("mean_service_time", mean_service_time)
    c = check_servers("servers", servers)
    ca2 = check_nonnegative("arrival_cv2", arrival_cv2)
    cs2 = check_nonnegative("service_cv2", service_cv2)
    if all(isinstance(x, float) for x in (lam, s, ca2, cs2)) and isinstance(c, int):
        if ca2 == 1.0 and cs2 == 1.0:
            return mmc(lam, s, c)
        return _ggc_scalar(lam, s, float(c), ca2, cs2)  # type: ignore[arg-type]
    if np.all(np.asarray(ca2) == 1.0) and np.all(np.asarray(cs2) == 1.0):
        res = mmc(lam, s, c)
        if not (isinstance(ca2, float) and isinstance(cs2, float)):
            # broadcast to the cv2 shapes too, keeping the M/M/c numbers
            shape = np.broadcast_shapes(np.shape(res.p_wait), np.shape(ca2), np.shape(cs2))
            if shape != np.shape(res.p_wait):
                res = mmc(*(np.broadcast_to(np.asarray(x, dtype=np.float64), shape) for x in (lam, s, c)))
        return res
    return _ggc_arrays(
        np.asarray(lam), np.asarray(s), np.asarray(c, dtype=np.float64), np.asarray(ca2), np.asarray(cs2)
    )


def _lundberg_rate(lam: float, s: float, c: float, ca2: float, cs2: float) -> float:
    """Positive root eta of log A*(eta) + log M_S(eta / c) = 0 (gamma inter-arrivals and service)."""
    a = 1.0 / lam

    def g(eta: float) -> tuple[float, float]:
        """The function and its derivative."""
        if ca2 == 0.0:
            arr, darr = -eta * a, -a
        else:
            arr, darr = -math.log1p(eta * a * ca2) / ca2, -a / (1.0 + eta * a * ca2)
        theta = eta / c
        if cs2 == 0.0:
            svc, dsvc = theta * s, s / c
        else:
            svc, dsvc = -math.log1p(-theta * s * cs2) / cs2, s / c / (1.0 - theta * s * cs2)
        return arr + svc, darr + dsvc

    # g(0) = 0, g'(0) = s / c - a < 0 when stable, and g is convex: one positive root. Newton's method from
    # a point right of it (g >= 0) descends to it monotonically, in a handful of steps.
    cap = c / (s * cs2) if cs2 > 0.0 else math.inf
    eta = c / s
    while eta < cap and g(min(eta, cap * (1.0 - 1e-9)))[0] < 0.0:
        eta *= 2.0
    eta = min(eta, cap * (1.0 - 1e-9))
    if g(eta)[0] < 0.0:
        # Very light load: the root is within 1e-9 of the pole of the service's MGF; stepping from here
        # would cross the pole.
        return eta
    for _ in range(60):
        val, slope = g(eta)
        if slope <= 0.0:
            break
        step = val / slope
        eta -= step
        if abs(step) <= 1e-13 * eta:
            break
    return eta


def lundberg_rate(
    arrival_rate: float,
    mean_service_time: float,
    servers: int,
    arrival_cv2: float = 1.0,
    service_cv2: float = 1.0,
) -> float:
    """Decay rate of the G/G/c wait tail: the Lundberg root of the "fast single server".

    The positive root eta of A*(eta) M_S(eta / c) = 1, with gamma inter-arrival times (rate
    `arrival_rate`, squared coefficient of variation `arrival_cv2`) and gamma service times divided by c.
    For M/D/c it is the exact decay rate c ln(z0) / D, z0 Crommelin's root of z^c = exp(lambda D (z - 1));
    for M/M/c it is c mu - lambda, the Erlang C rate. Units: 1 / the unit of `mean_service_time`.

    Public because the deployment model's wait tails are built on it (`wait_tail_shape`) and it has
    independent closed forms to be checked against. Requires a stable queue (arrival_rate x
    mean_service_time < servers).

    >>> round(lundberg_rate(0.3, 10.0, 4), 12)   # M/M/4: c / s - lambda
    0.1
    """
    lam = check_positive("arrival_rate", arrival_rate)
    s = check_positive("mean_service_time", mean_service_time)
    c = check_servers("servers", servers)
    ca2 = check_nonnegative("arrival_cv2", arrival_cv2)
    cs2 = check_nonnegative("service_cv2", service_cv2)
    if not lam * s < c:
        raise ValueError(
            f"'arrival_rate' x 'mean_service_time' must be below 'servers' = {c} for a stable queue "
            f"(got {lam} x {s} = {lam * s:g})"
        )
    return _lundberg_rate(lam, s, float(c), ca2, cs2)


def wait_tail_shape(
    arrival_rate: float,
    mean_service_time: float,
    servers: int,
    arrival_cv2: float,
    service_cv2: float,
    p_wait: float,
    mean_wait: float,
) -> tuple[float, float]:
    """(shift, rate) of a waiting customer's wait, shift + Exponential(rate), with the mean kept.

    For service_cv2 >= 1 this is (0, p_wait / mean_wait), the exponential tail of `ggc`. Below 1 the rate
    moves towards `lundberg_rate` in proportion to 1 - service_cv2 (all the way for constant service), so
    the shape is continuous in cv2; the shift is what keeps the mean. Times in the units of
    `mean_service_time` and 1 / `arrival_rate`.
    """
    lam = check_nonnegative("arrival_rate", arrival_rate)
    s = check_positive("mean_service_time", mean_service_time)
    c = check_servers("servers", servers)
    p = check_fraction("p_wait", p_wait)
    w = check_positive("mean_wait", mean_wait)
    return _wait_tail_shape(
        lam, s, float(c), check_nonnegative("arrival_cv2", arrival_cv2),
        check_nonnegative("service_cv2", service_cv2), p, w,
    )


def _wait_tail_shape(
    lam: float, s: float, c: float, ca2: float, cs2: float, p_wait: float, mean_wait: float
) -> tuple[float, float]:
    base = p_wait / mean_wait
    if cs2 >= 1.0 or p_wait <= 0.0 or not (lam > 0.0 and lam * s < c):
        return 0.0, base
    eta = _lundberg_rate(lam, s, c, ca2, cs2)
    if not (math.isfinite(eta) and eta > base):
        return 0.0, base
    rate = base + (eta - base) * (1.0 - cs2)
    return mean_wait / p_wait - 1.0 / rate, rate
