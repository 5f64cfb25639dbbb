"""Samplers for service and inter-arrival times, drawn in blocks: the event loop never calls numpy per event.

Every sampler is described by a mean and a squared coefficient of variation (cv2). Step durations follow
sizing/_lifecycle.py: constant when cv2 = 0, otherwise lognormal (cv2 = 1 is a lognormal too). Arrivals are
a renewal process whose family is picked by cv2 so the first two moments match: constant (0), gamma (< 1,
Erlang when 1/cv2 is an integer), exponential (1, Poisson), two-phase hyperexponential with balanced means
(> 1). Exponential service exists for the exact M/M/c checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sizing._checks import check_choice, check_real

__all__ = [
    "MAX_CV2",
    "Family",
    "Sampler",
    "Stream",
    "arrival_sampler",
    "check_mean_cv2",
    "empirical_sampler",
    "service_sampler",
    "sum_sampler",
]

Family = Literal["constant", "exponential", "lognormal", "gamma", "hyperexponential", "empirical", "sum"]

# cv2 at which the renewal families change; tiny cv2 above 0 is still a gamma with a huge shape.
MAX_CV2 = 1e4


@dataclass(frozen=True, slots=True)
class Sampler:
    """A distribution on [0, inf) with mean `mean` (any time unit) drawn in blocks by `draw`."""

    family: Family
    mean: float
    cv2: float
    values: tuple[float, ...] = ()
    parts: tuple[Sampler, ...] = ()

    def draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return _draw(self, rng, n)


def check_mean_cv2(name: str, mean: float, cv2: float) -> None:
    """The checks of a law's mean (finite, >= 0) and cv2 (in [0, MAX_CV2]), named `<name>_mean`, `<name>_cv2`."""
    check_real(f"{name}_mean", mean, lo=0.0)
    check_real(f"{name}_cv2", cv2, lo=0.0, hi=MAX_CV2)


def service_sampler(
    mean: float, cv2: float, family: Literal["lognormal", "exponential"] = "lognormal"
) -> Sampler:
    """A step duration per sizing/_lifecycle.py: constant when cv2 = 0 (or mean = 0), else lognormal.

    family="exponential" (cv2 must then be 1) is for the textbook M/M/c checks.
    """
    check_mean_cv2("service", mean, cv2)
    check_choice("family", family, ("lognormal", "exponential"))
    if family == "exponential":
        if cv2 != 1.0:
            raise ValueError(f"an exponential service time has cv2 = 1, got cv2 {cv2}")
        return Sampler("exponential", float(mean), 1.0)
    if cv2 == 0.0 or mean == 0.0:
        return Sampler("constant", float(mean), 0.0)
    return Sampler("lognormal", float(mean), float(cv2))


def arrival_sampler(mean: float, cv2: float) -> Sampler:
    """Inter-arrival times of a renewal process with this mean (> 0) and cv2."""
    check_real("interarrival_mean", mean, lo=0.0, lo_open=True)
    check_real("interarrival_cv2", cv2, lo=0.0, hi=MAX_CV2)
    if cv2 == 0.0:
        return Sampler("constant", float(mean), 0.0)
    if cv2 < 1.0:
        return Sampler("gamma", float(mean), float(cv2))
    if cv2 == 1.0:
        return Sampler("exponential", float(mean), 1.0)
    return Sampler("hyperexponential", float(mean), float(cv2))


def empirical_sampler(values: object, name: str) -> Sampler:
    """Resample (with replacement) measured durations; `name` is used in error messages."""
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        kind = type(values).__name__
        raise ValueError(f"empirical[{name!r}] must be a sequence of numbers (ms), got {kind}") from None
    if arr.size == 0:
        raise ValueError(f"empirical[{name!r}] must hold at least 1 sample, got 0")
    bad = ~np.isfinite(arr) | (arr < 0.0)
    if bad.any():
        raise ValueError(f"empirical[{name!r}] samples must be finite and >= 0 ms, got {arr[bad][0]!r}")
    mean = float(arr.mean())
    cv2 = float(arr.var() / (mean * mean)) if mean > 0 else 0.0
    return Sampler("empirical", mean, cv2, values=tuple(arr.tolist()))


def sum_sampler(parts: list[Sampler]) -> Sampler:
    """Sum of independent parts (consecutive pure delays merged into one event)."""
    live = [p for p in parts if not (p.family == "constant" and p.mean == 0.0)]
    if not live:
        return Sampler("constant", 0.0, 0.0)
    if len(live) == 1:
        return live[0]
    if all(p.family == "constant" for p in live):
        return Sampler("constant", math.fsum(p.mean for p in live), 0.0)
    mean = math.fsum(p.mean for p in live)
    var = math.fsum(p.cv2 * p.mean * p.mean for p in live)
    return Sampler("sum", mean, var / (mean * mean) if mean > 0 else 0.0, parts=tuple(live))


def _draw(s: Sampler, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    if s.family == "constant":
        return np.full(n, s.mean)
    if s.family == "exponential":
        return rng.exponential(s.mean, n)
    if s.family == "lognormal":
        # mean m, cv2 -> sigma^2 = ln(1 + cv2), mu = ln m - sigma^2 / 2
        s2 = math.log1p(s.cv2)
        return rng.lognormal(math.log(s.mean) - s2 / 2.0, math.sqrt(s2), n)
    if s.family == "gamma":
        shape = 1.0 / s.cv2
        return rng.gamma(shape, s.mean / shape, n)
    if s.family == "hyperexponential":
        # Balanced means (p1/mu1 = p2/mu2): the usual two-moment H2 fit, defined for every cv2 > 1.
        p1 = 0.5 * (1.0 + math.sqrt((s.cv2 - 1.0) / (s.cv2 + 1.0)))
        branch1 = rng.random(n) < p1
        means = np.where(branch1, s.mean / (2.0 * p1), s.mean / (2.0 * (1.0 - p1)))
        return rng.exponential(1.0, n) * means
    if s.family == "empirical":
        return rng.choice(np.asarray(s.values), n)
    if s.family == "sum":
        total = np.zeros(n)
        for p in s.parts:
            total += _draw(p, rng, n)
        return total
    raise AssertionError(f"unknown family {s.family}")  # pragma: no cover - Family is a closed Literal


class Stream:
    """Values of one sampler served one at a time from a block drawn with numpy (Python floats are fast)."""

    __slots__ = ("_block", "_buf", "_i", "_rng", "_sampler")

    def __init__(self, sampler: Sampler, rng: np.random.Generator, block: int = 4096) -> None:
        self._sampler = sampler
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def next(self) -> float:
        i = self._i
        if i == len(self._buf):
            self._buf = self._sampler.draw(self._rng, self._block).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]
