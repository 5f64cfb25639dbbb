"""Point estimates and 95% confidence half-widths from independent replications."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import special

__all__ = ["finite_or_none", "half_width", "mean_and_half_width"]


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
