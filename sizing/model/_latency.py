"""End-to-end latency as a sum of independent pieces: stage waits and service times.

A request's latency is a sum of waits (an atom at zero and an exponential tail, the shape every stage's
wait has in the model) and service times (constant, or lognormal with a given mean and cv2). Adding
percentiles is wrong and a two-moment fit misses the tail of "constant + rare long wait", so the pieces
are convolved numerically: each is discretised on one grid by differences of its exact CDF, and the
product of their FFTs gives the distribution of the sum. The mean is exact (sum of means); quantiles are
accurate to about one grid step (the grid spans the sum of the pieces' 1 - 1e-7 quantiles).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "COARSE_GRID",
    "FINE_GRID",
    "SEARCH_GRID",
    "LatencyDistribution",
    "Service",
    "Stall",
    "Wait",
    "mixture_quantile",
    "mixture_quantiles",
]

_TAIL = 1e-7
_GRID = 4096
FINE_GRID = _GRID
# For searches and charts: about 2x cheaper, percentiles within 0.5% of the full grid's.
COARSE_GRID = 2048
# For the bisection on the rate where p99 crosses its target; the answer is then checked on the full grid.
SEARCH_GRID = 1024

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Wait:
    """A queueing wait: P(W > t) = p_wait for t < shift_ms, p_wait * exp(-rate_per_ms * (t - shift_ms)) after.

    shift_ms is 0 (an exponential tail) unless the service is less variable than exponential; see
    `sizing.queueing._ggc.wait_tail_shape`.
    """

    p_wait: float
    rate_per_ms: float
    shift_ms: float = 0.0

    @property
    def mean_ms(self) -> float:
        return 0.0 if self.p_wait <= 0 else self.p_wait * (self.shift_ms + 1.0 / self.rate_per_ms)

    @property
    def var_ms2(self) -> float:
        if self.p_wait <= 0:
            return 0.0
        d, r = self.shift_ms, 1.0 / self.rate_per_ms
        return self.p_wait * (d * d + 2.0 * d * r + 2.0 * r * r) - self.mean_ms**2

    def quantile_ms(self, q: float) -> float:
        """The q-quantile of the wait (0 when at least a share q never waits)."""
        if self.p_wait <= 1.0 - q:
            return 0.0
        return self.shift_ms + math.log(self.p_wait / (1.0 - q)) / self.rate_per_ms

    def scaled(self, factor: float) -> Wait:
        """The same wait with every duration multiplied by `factor` (> 0)."""
        return Wait(self.p_wait, self.rate_per_ms / factor, self.shift_ms * factor)

    def upper_ms(self) -> float:
        if self.p_wait <= _TAIL:
            return 0.0
        return self.quantile_ms(1.0 - _TAIL)

    def cdf(self, t: FloatArray) -> FloatArray:
        excess = np.maximum(t - self.shift_ms, 0.0)
        out: FloatArray = np.where(t < 0, 0.0, 1.0 - self.p_wait * np.exp(-self.rate_per_ms * excess))
        return out


@dataclass(frozen=True, slots=True)
class Stall:
    """A delay that is 0 with probability 1 - p_wait and uniform on [0, width_ms] otherwise.

    What a garbage-collection pause does to a moment of a request that needs the GIL: it is caught with
    probability p_wait (inside the pause or the backlog behind it), and the backlog it finds falls linearly
    from the pause's length to 0 as the process catches up.
    """

    p_wait: float
    width_ms: float

    @property
    def mean_ms(self) -> float:
        return 0.5 * self.p_wait * self.width_ms

    @property
    def var_ms2(self) -> float:
        return self.p_wait * self.width_ms**2 / 3.0 - self.mean_ms**2

    def upper_ms(self) -> float:
        return self.width_ms if self.p_wait > _TAIL else 0.0

    def cdf(self, t: FloatArray) -> FloatArray:
        frac = np.clip(t / self.width_ms, 0.0, 1.0) if self.width_ms > 0 else np.ones_like(t)
        out: FloatArray = np.where(t < 0, 0.0, 1.0 - self.p_wait + self.p_wait * frac)
        return out


@dataclass(frozen=True, slots=True)
class Service:
    """A service time with mean `mean_ms` and squared coefficient of variation `cv2` (0: constant)."""

    mean_ms: float
    cv2: float

    @property
    def sigma(self) -> float:
        return math.sqrt(math.log1p(self.cv2))

    @property
    def mu(self) -> float:
        return math.log(self.mean_ms) - 0.5 * self.sigma**2

    def upper_ms(self) -> float:
        return math.exp(self.mu + self.sigma * float(special.ndtri(1.0 - _TAIL)))

    def cdf(self, t: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore"):
            z = (np.log(np.maximum(t, 0.0)) - self.mu) / self.sigma
        out: FloatArray = np.where(t <= 0, 0.0, special.ndtr(z))
        return out


class LatencyDistribution:
    """The distribution of shift + sum(waits) + sum(services), all independent."""

    def __init__(
        self, shift_ms: float, waits: Sequence[Wait | Stall], services: Sequence[Service], grid: int = _GRID
    ) -> None:
        waits = [w for w in waits if w.p_wait > 0]
        constant = sum(s.mean_ms for s in services if s.cv2 == 0)
        randoms = [s for s in services if s.cv2 > 0 and s.mean_ms > 0]
        self.shift_ms = float(shift_ms + constant)
        self.mean_ms = (
            self.shift_ms + math.fsum(w.mean_ms for w in waits) + math.fsum(s.mean_ms for s in randoms)
        )
        # Identical pieces (the same CPU wait at every CPU step, the same upstream call made n times) are
        # transformed once and raised to their count.
        counts = Counter[Wait | Stall | Service]([*waits, *randoms])
        uppers = {p: p.upper_ms() for p in counts}
        span = math.fsum(n * uppers[p] for p, n in counts.items())
        if span <= 0:
            self._x = np.array([self.shift_ms])
            self._cdf = np.array([1.0])
            return
        step = span / (grid - 1)
        # A piece narrower than one grid step only shifts the sum: keep its mean (exact), not its shape.
        wide = [p for p in counts if uppers[p] >= step]
        self.shift_ms += math.fsum(n * p.mean_ms for p, n in counts.items() if uppers[p] < step)
        if not wide:
            self._x = np.array([self.shift_ms])
            self._cdf = np.array([1.0])
            return
        size = 2 * grid
        pmfs = np.zeros((len(wide), size))
        for row, piece in enumerate(wide):
            top = min(max(math.ceil(uppers[piece] / step), 1), grid)
            cdf = piece.cdf((np.arange(top, dtype=np.float64) + 0.5) * step)
            pmfs[row, 0] = cdf[0]
            pmfs[row, 1:top] = np.diff(cdf)
            # What lies beyond the piece's 1 - 1e-7 quantile is put on its last grid point (slightly pessimistic).
            pmfs[row, top] = 1.0 - cdf[-1]
        powers = np.array([counts[p] for p in wide], dtype=np.float64)[:, None]
        spectrum = np.prod(np.fft.rfft(pmfs, axis=1) ** powers, axis=0)
        total = np.clip(np.fft.irfft(spectrum, n=size), 0.0, None)
        cdf_sum = np.cumsum(total)
        cdf_sum /= cdf_sum[-1]
        # Value k*step carries the mass of [(k - 1/2) step, (k + 1/2) step): the CDF is known at the bin tops.
        self._x = self.shift_ms + np.concatenate(([-0.5 * step], (np.arange(size) + 0.5) * step))
        self._cdf = np.concatenate(([0.0], cdf_sum))

    def cdf(self, t_ms: float | FloatArray) -> FloatArray:
        return np.asarray(np.interp(t_ms, self._x, self._cdf, left=0.0, right=1.0), dtype=np.float64)

    def quantile(self, q: float) -> float:
        if len(self._x) == 1:
            return float(self._x[0])
        k = int(np.searchsorted(self._cdf, q, side="left"))
        k = min(max(k, 1), len(self._x) - 1)
        c0, c1 = self._cdf[k - 1], self._cdf[k]
        x0, x1 = self._x[k - 1], self._x[k]
        x = x1 if c1 <= c0 else x0 + (q - c0) / (c1 - c0) * (x1 - x0)
        return float(max(x, self.shift_ms))


def mixture_quantiles(
    dists: Sequence[LatencyDistribution], weights: Sequence[float], qs: Sequence[float]
) -> list[float]:
    """Quantiles of the mixture sum(w_i * F_i): the latency of all requests together."""
    pairs = [(d, w) for d, w in zip(dists, weights, strict=True) if w > 0]
    if len(pairs) == 1:
        return [pairs[0][0].quantile(q) for q in qs]
    total = math.fsum(w for _, w in pairs)
    # Every class CDF is piecewise linear on its own grid: on the union of the grids the mixture is too.
    grid = np.unique(np.concatenate([d._x for d, _ in pairs]))
    mix = np.zeros_like(grid)
    for d, w in pairs:
        mix += (w / total) * d.cdf(grid)
    out = []
    for q in qs:
        k = int(np.searchsorted(mix, q, side="left"))
        if k <= 0:
            out.append(float(grid[0]))
        elif k >= len(grid):
            out.append(float(grid[-1]))
        else:
            c0, c1 = mix[k - 1], mix[k]
            x0, x1 = grid[k - 1], grid[k]
            out.append(float(x1 if c1 <= c0 else x0 + (q - c0) / (c1 - c0) * (x1 - x0)))
    return out


def mixture_quantile(dists: Sequence[LatencyDistribution], weights: Sequence[float], q: float) -> float:
    """Quantile of the mixture sum(w_i * F_i)."""
    return mixture_quantiles(dists, weights, (q,))[0]
