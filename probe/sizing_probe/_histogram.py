"""A bounded, mergeable histogram of durations: fixed log-spaced buckets, so memory never grows."""

from __future__ import annotations

import bisect
import math
from typing import Any

__all__ = ["EDGES_MS", "LogHistogram"]

# 10 buckets a decade from 1 microsecond to 1000 s: 90 edges; below the first and above the last too.
EDGES_MS: tuple[float, ...] = tuple(10.0 ** (k / 10.0) for k in range(-30, 61))


class LogHistogram:
    """Counts of durations (ms) per bucket, with their exact sum: the mean is exact, quantiles are within
    a bucket's width (26% of the value)."""

    __slots__ = ("count", "counts", "sum_ms")

    def __init__(self) -> None:
        self.counts = [0] * (len(EDGES_MS) + 1)
        self.count = 0
        self.sum_ms = 0.0

    def add(self, ms: float) -> None:
        self.counts[bisect.bisect_right(EDGES_MS, ms)] += 1
        self.count += 1
        self.sum_ms += ms

    def merge(self, other: LogHistogram) -> None:
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.count += other.count
        self.sum_ms += other.sum_ms

    @property
    def mean_ms(self) -> float | None:
        return self.sum_ms / self.count if self.count else None

    def quantile_ms(self, q: float) -> float | None:
        """The q-quantile, geometric interpolation inside its bucket (None when empty)."""
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.counts):
            if n and seen + n >= rank:
                lo = EDGES_MS[i - 1] if i > 0 else EDGES_MS[0] / 10.0
                hi = EDGES_MS[i] if i < len(EDGES_MS) else EDGES_MS[-1] * 10.0
                frac = (rank - seen) / n
                return math.exp(math.log(lo) + frac * (math.log(hi) - math.log(lo)))
            seen += n
        return EDGES_MS[-1]

    def to_json(self) -> dict[str, Any]:
        """Sparse: only the buckets that counted, as {index: count}."""
        return {
            "count": self.count,
            "sum_ms": self.sum_ms,
            "buckets": {str(i): n for i, n in enumerate(self.counts) if n},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogHistogram:
        h = cls()
        for key, n in data.get("buckets", {}).items():
            h.counts[int(key)] = int(n)
        h.count = int(data.get("count", sum(h.counts)))
        h.sum_ms = float(data.get("sum_ms", 0.0))
        return h
