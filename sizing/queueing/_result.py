"""The result type shared by :func:`sizing.mmc` and :func:`sizing.ggc`, with its distribution methods.

Wait model (exact for M/M/c, an approximation for G/G/c): an atom of mass ``1 - p_wait`` at zero and,
given a wait, an exponential with rate ``wait_decay_rate`` (theta), so
P(W > t) = p_wait * exp(-theta t) and theta = p_wait / mean_wait.

Service model: S has the given mean and squared CV: exponential for cv2 = 1, deterministic for
cv2 = 0, gamma(shape 1/cv2, scale mean*cv2) otherwise. The response time is T = W + S with W and S
independent (exact for M/M/c FIFO, approximate otherwise):

* exponential S: P(T > t) = e^{-mu t} + p mu t e^{-min(mu, theta) t} exprel(-|theta - mu| t);
* deterministic S: P(T > t) = 1 for t < s, p e^{-theta (t - s)} for t >= s;
* gamma S (shape k, scale b): P(T > t) = Q(k, t/b) + p J(t), J(t) = int_0^t f_S(x) e^{-theta(t-x)} dx,
  J = e^{-theta t} (1 - theta b)^{-k} P(k, (1/b - theta) t) when (theta - 1/b) t < -30 (closed form),
  else J = f_S(t) t M((theta - 1/b) t) with M(z) = int_0^1 (1-u)^{k-1} e^{-z u} du evaluated by a
  48-point Gauss-Jacobi rule for z <= 30 and a 40-point Gauss-Laguerre rule above.

Quantiles of T are found by a vectorised bisection on that survival function inside the bracket
[max(w_q, s_q), w_q' + s_q'] with q' = 1 - (1 - q)/2.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import scipy.special as sc
from numpy.typing import ArrayLike, NDArray

from sizing._checks import check_fraction, check_nonnegative

__all__ = ["QueueResult"]

FloatOrArray = float | NDArray[np.float64]
BoolOrArray = bool | NDArray[np.bool_]

_JACOBI_NODES = 48
_LAG_X, _LAG_W = np.polynomial.laguerre.laggauss(40)
_Z_SWITCH = 30.0


@functools.lru_cache(maxsize=64)
def _jacobi_rule(k: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nodes u in (0, 1) and weights for int_0^1 (1-u)^(k-1) g(u) du."""
    x, w = sc.roots_jacobi(_JACOBI_NODES, k - 1.0, 0.0)
    return (1.0 + x) / 2.0, w * 2.0**-k


def _m_function(z: NDArray[np.float64], k: float) -> NDArray[np.float64]:
    """M(z) = int_0^1 (1-u)^(k-1) e^{-z u} du for z >= -30, one shape k."""
    out = np.empty_like(z)
    small = z <= _Z_SWITCH
    if small.any():
        u, w = _jacobi_rule(k)
        out[small] = np.exp(-np.outer(z[small], u)) @ w
    big = ~small
    if big.any():
        zb = z[big][:, None]
        ratio = _LAG_X[None, :] / zb
        inside = ratio < 1.0
        vals = np.where(inside, np.power(np.where(inside, 1.0 - ratio, 1.0), k - 1.0), 0.0)
        out[big] = (vals @ _LAG_W) / z[big]
    return out


def _response_sf(
    t: NDArray[np.float64],
    p: NDArray[np.float64],
    theta: NDArray[np.float64],
    s: NDArray[np.float64],
    cs2: NDArray[np.float64],
    stable: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """P(T > t) for flat, equally shaped arrays (see the module docstring)."""
    out = np.ones_like(t)
    live = stable & (t > 0.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        # deterministic service
        det = live & (cs2 == 0.0)
        if det.any():
            td, sd = t[det], s[det]
            out[det] = np.where(td < sd, 1.0, p[det] * np.exp(-theta[det] * (td - sd)))
        # exponential service
        ex = live & (cs2 == 1.0)
        if ex.any():
            te, mu, th, pe = t[ex], 1.0 / s[ex], theta[ex], p[ex]
            tail = pe * mu * te * np.exp(-np.minimum(mu, th) * te) * sc.exprel(-np.abs(th - mu) * te)
            out[ex] = np.exp(-mu * te) + tail
        # gamma service
        gm = live & (cs2 != 0.0) & (cs2 != 1.0)
        if gm.any():
            idx = np.flatnonzero(gm)
            for k in np.unique(1.0 / cs2[idx]):
                sel = idx[1.0 / cs2[idx] == k]
                tg, pg, th = t[sel], p[sel], theta[sel]
                b = s[sel] / k
                x = tg / b
                sf_s = sc.gammaincc(k, x)
                z = (th - 1.0 / b) * tg
                j = np.zeros_like(tg)
                closed = z < -_Z_SWITCH
                if closed.any():
                    tc, thc, bc = tg[closed], th[closed], b[closed]
                    logj = -thc * tc - k * np.log1p(-thc * bc)
                    j[closed] = np.exp(logj) * sc.gammainc(k, (1.0 / bc - thc) * tc)
                quad = ~closed
                if quad.any():
                    xq = x[quad]
                    log_tf = k * np.log(xq) - xq - sc.gammaln(k)  # log(t f_S(t))
                    j[quad] = np.exp(log_tf) * _m_function(z[quad], float(k))
                out[sel] = np.minimum(sf_s + pg * j, 1.0)
    return out


def _service_quantile(q: NDArray[np.float64], s: NDArray[np.float64], cs2: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(cs2 > 0.0, 1.0 / np.where(cs2 > 0.0, cs2, 1.0), 1.0)
        gam = sc.gammaincinv(k, q) * s / k
    res: NDArray[np.float64] = np.where(cs2 == 0.0, s, np.where(cs2 == 1.0, -s * np.log1p(-q), gam))
    return res


def _wait_quantile(
    q: NDArray[np.float64], p: NDArray[np.float64], theta: NDArray[np.float64], stable: NDArray[np.bool_]
) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = (np.log(p) - np.log1p(-q)) / theta
    res: NDArray[np.float64] = np.where(~stable, np.inf, np.where((p <= 0.0) | (q <= 1.0 - p), 0.0, tail))
    return res


def _scalarize(res: QueueResult) -> QueueResult:
    """The same result with 0-d / size-1 array attributes turned into Python floats and a bool."""
    vals = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}
    for name, v in vals.items():
        if name == "stable":
            vals[name] = bool(np.asarray(v).reshape(-1)[0])
        elif name != "method":
            vals[name] = float(np.asarray(v).reshape(-1)[0])
    return QueueResult(**vals)


def _out(x: NDArray[np.float64], shape: tuple[int, ...], scalar: bool) -> FloatOrArray:
    if scalar:
        return float(x.reshape(-1)[0])
    return x.reshape(shape)


@dataclass(frozen=True, kw_only=True)
class QueueResult:
    """Steady-state metrics of a c-server FIFO queue (from :func:`sizing.mmc` or :func:`sizing.ggc`).

    Times are in the caller's unit (that of ``mean_service_time``), rates per that unit. Every
    attribute is a float for scalar inputs and an ndarray broadcast over array inputs.

    Attributes
    ----------
    arrival_rate, mean_service_time, servers, arrival_cv2, service_cv2
        The inputs (servers as float).
    utilization
        rho = arrival_rate * mean_service_time / servers (>= 1 means unstable).
    offered_load
        a = arrival_rate * mean_service_time, in erlangs.
    p_wait
        P(W > 0), the probability an arrival waits (1.0 when unstable).
    mean_wait, mean_queue_length, mean_response
        E[W], L_q = arrival_rate * E[W] (Little), E[W] + mean_service_time; inf when unstable.
    stable
        utilization < 1.
    wait_decay_rate
        theta in P(W > t) = p_wait * exp(-theta t); 0 when unstable.
    method
        The formulas used.
    """

    arrival_rate: FloatOrArray
    mean_service_time: FloatOrArray
    servers: FloatOrArray
    arrival_cv2: FloatOrArray
    service_cv2: FloatOrArray
    utilization: FloatOrArray
    offered_load: FloatOrArray
    p_wait: FloatOrArray
    mean_wait: FloatOrArray
    mean_queue_length: FloatOrArray
    mean_response: FloatOrArray
    stable: BoolOrArray
    wait_decay_rate: FloatOrArray
    method: str

    def _broadcast(
        self, x: ArrayLike, name: str, fraction: bool
    ) -> tuple[list[NDArray[np.float64]], tuple[int, ...], bool]:
        xv = check_fraction(name, x) if fraction else check_nonnegative(name, x)
        scalar = isinstance(xv, float) and isinstance(self.p_wait, float)
        arrays = np.broadcast_arrays(
            np.asarray(xv, dtype=np.float64),
            np.asarray(self.p_wait, dtype=np.float64),
            np.asarray(self.wait_decay_rate, dtype=np.float64),
            np.asarray(self.mean_service_time, dtype=np.float64),
            np.asarray(self.service_cv2, dtype=np.float64),
            np.asarray(self.stable, dtype=np.float64),
        )
        shape = arrays[0].shape
        return [np.ascontiguousarray(a).reshape(-1) for a in arrays], shape, scalar

    def p_wait_exceeds(self, t: ArrayLike) -> FloatOrArray:
        """P(W > t) for t >= 0 (same time unit as ``mean_service_time``); broadcasts over t.

        >>> from sizing import mmc
        >>> round(mmc(8.0, 1.0, 10).p_wait_exceeds(0.5), 6)
        0.150529
        """
        (tv, p, th, _, _, st), shape, scalar = self._broadcast(t, "t", fraction=False)
        res = np.where(st > 0.0, p * np.exp(-th * tv), 1.0)
        return _out(res, shape, scalar)

    def wait_quantile(self, q: ArrayLike) -> FloatOrArray:
        """The q-quantile of the wait, inf{t : P(W <= t) >= q}, for q in [0, 1]; broadcasts over q.

        0 where q <= 1 - p_wait; inf for q = 1 (when p_wait > 0) and for unstable queues.
        """
        (qv, p, th, _, _, st), shape, scalar = self._broadcast(q, "q", fraction=True)
        res = _wait_quantile(qv, p, th, st > 0.0)
        return _out(res, shape, scalar)

    def p_response_exceeds(self, t: ArrayLike) -> FloatOrArray:
        """P(T > t) for the response time T = W + S, t >= 0; broadcasts over t."""
        (tv, p, th, s, cs2, st), shape, scalar = self._broadcast(t, "t", fraction=False)
        res = _response_sf(tv, p, th, s, cs2, st > 0.0)
        return _out(res, shape, scalar)

    def response_quantile(self, q: ArrayLike) -> FloatOrArray:
        """The q-quantile of the response time T = W + S for q in [0, 1]; broadcasts over q.

        Solved by bisection on :meth:`p_response_exceeds` inside [max(w_q, s_q), w_q' + s_q'],
        q' = 1 - (1 - q)/2, to a relative width of 4 ulp. inf for q = 1 and for unstable queues.
        """
        (qv, p, th, s, cs2, st), shape, scalar = self._broadcast(q, "q", fraction=True)
        stable = st > 0.0
        res = np.zeros_like(qv)
        res[~stable | (qv >= 1.0)] = np.inf
        todo = np.flatnonzero(stable & (qv > 0.0) & (qv < 1.0))
        if todo.size:
            qt, pt, tht, sv, cv, stt = qv[todo], p[todo], th[todo], s[todo], cs2[todo], stable[todo]
            target = 1.0 - qt
            q2 = 1.0 - target / 2.0
            lo = np.maximum(_wait_quantile(qt, pt, tht, stt), _service_quantile(qt, sv, cv))
            hi = _wait_quantile(q2, pt, tht, stt) + _service_quantile(q2, sv, cv)
            # Invariant: sf(lo) >= target > sf(hi) up to rounding; shrink until adjacent floats.
            for _ in range(200):
                active = hi - lo > 4.0 * np.finfo(np.float64).eps * hi
                if not active.any():
                    break
                ia = np.flatnonzero(active)
                mid = 0.5 * (lo[ia] + hi[ia])
                above = _response_sf(mid, pt[ia], tht[ia], sv[ia], cv[ia], stt[ia]) > target[ia]
                lo[ia[above]] = mid[above]
                hi[ia[~above]] = mid[~above]
            res[todo] = 0.5 * (lo + hi)
        return _out(res, shape, scalar)
