"""Point estimates and 95% confidence half-widths from independent replications."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["controlled_mean", "finite_or_none", "half_width", "mean_and_half_width"]


def half_width(values: Sequence[float] | NDArray[np.float64], level: float = 0.95) -> float | None:
    """Student-t half-width of the mean of independent estimates; None with fewer than 2."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size < 2:
        return None
    # scipy.special rather than scipy.stats: importing scipy.stats costs about a second.
    t = float(special.stdtrit(arr.size - 1, 0.5 + level / 2.0))
    return t * float(arr.std(ddof=1)) / math.sqrt(arr.size)


def mean_and_half_width(values: Sequence[float] | NDArray[np.float64]) -> tuple[float | None, float | None]:
    """The mean of per-replication estimates and its 95% half-width; None when there is nothing finite."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None, None
    return float(arr.mean()), half_width(arr)


def finite_or_none(x: float | None) -> float | None:
    """Strict JSON has no inf or NaN: unbounded or undefined becomes None."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def controlled_mean(
    y: NDArray[np.float64], x: NDArray[np.float64], x_mean: float, level: float = 0.95
) -> tuple[float, float | None]:
    """Control-variate estimate of E[y] from replications (y_r, x_r) where E[x] = `x_mean` is known.

    The coefficient is fitted by least squares across the replications; the half-width is the standard one
    for an estimated coefficient (Lavenberg and Welch 1981): residual variance on R - 2 degrees of freedom,
    inflated by how far the controls' mean landed from its known value. With fewer than 4 replications, or
    a control that did not vary, it falls back to the plain mean.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    r = y.size
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if r < 4 or not sxx > 0.0:
        m, hw = mean_and_half_width(y)
        return (float("nan") if m is None else m), hw
    beta = float(dx @ (y - y.mean())) / sxx
    shift = float(x.mean()) - x_mean
    est = float(y.mean()) - beta * shift
    resid = y - y.mean() - beta * dx
    s2 = float(resid @ resid) / (r - 2)
    t = float(special.stdtrit(r - 2, 0.5 + level / 2.0))
    return est, t * math.sqrt(s2 * (1.0 / r + shift * shift / sxx))
