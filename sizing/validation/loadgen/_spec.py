"""What the load generator is asked (LoadSpec), what it returns (LoadResult), and its seeded schedule.

Shared by the generator process (`_loadgen`) and the harness that starts it; no event loop here.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from sizing._checks import check_int, check_real

__all__ = ["LoadResult", "LoadSpec", "arrival_offsets", "class_choices", "runqueue_wait_s"]


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What one generator process sends."""

    port: int
    paths: tuple[str, ...]
    shares: tuple[float, ...]
    rate: float
    seconds: float
    max_requests: int
    seed: int
    arrival_cv2: float = 1.0
    drain_s: float = 10.0
    prewarm: int = 16
    max_connections: int = 8000
    # With handshake, the process prints "ready" once its connections are open and reads "go T" on stdin:
    # the schedule starts at time.monotonic() == T in every generator, after their (slow) start-up.
    handshake: bool = False

    def to_json(self) -> str:
        d = {k: getattr(self, k) for k in self.__slots__}
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        d = json.loads(text)
        d["paths"] = tuple(d["paths"])
        d["shares"] = tuple(d["shares"])
        return cls(**d)


@dataclass(slots=True)
class LoadResult:
    """Per request: scheduled, sent and done times (s after `t0`, NaN when not sent/done), status, class."""

    t0: float
    sched: np.ndarray
    sent: np.ndarray
    done: np.ndarray
    status: np.ndarray
    cls: np.ndarray
    cpu_s: float
    send_wall_s: float
    rq_wait_s: float  # time this process's threads were runnable but not running (schedstat), send to drain
    connections: int
    stopped_by: str

    def to_json(self) -> str:
        def arr(a: np.ndarray) -> list[float | None]:
            return [None if math.isnan(x) else round(float(x), 7) for x in a]

        return json.dumps(
            {
                "t0": self.t0,
                "sched": arr(self.sched),
                "sent": arr(self.sent),
                "done": arr(self.done),
                "status": [int(s) for s in self.status],
                "cls": [int(c) for c in self.cls],
                "cpu_s": self.cpu_s,
                "rq_wait_s": self.rq_wait_s,
                "send_wall_s": self.send_wall_s,
                "connections": self.connections,
                "stopped_by": self.stopped_by,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LoadResult:
        d = json.loads(text)

        def arr(v: list[float | None]) -> np.ndarray:
            return np.array([math.nan if x is None else x for x in v], dtype=float)

        return cls(
            t0=float(d["t0"]),
            sched=arr(d["sched"]),
            sent=arr(d["sent"]),
            done=arr(d["done"]),
            status=np.array(d["status"], dtype=int),
            cls=np.array(d["cls"], dtype=int),
            cpu_s=float(d["cpu_s"]),
            rq_wait_s=float(d["rq_wait_s"]),
            send_wall_s=float(d["send_wall_s"]),
            connections=int(d["connections"]),
            stopped_by=str(d["stopped_by"]),
        )

    @staticmethod
    def merge(parts: list[LoadResult]) -> LoadResult:
        """One result from several generators sharing `t0`, requests in schedule order."""
        if len(parts) == 1:
            return parts[0]
        order = np.argsort(np.concatenate([p.sched for p in parts]), kind="stable")

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])[order]

        return LoadResult(
            t0=min(p.t0 for p in parts),
            sched=cat("sched"),
            sent=cat("sent"),
            done=cat("done"),
            status=cat("status"),
            cls=cat("cls"),
            cpu_s=max(p.cpu_s for p in parts),
            rq_wait_s=sum(p.rq_wait_s for p in parts),
            send_wall_s=max(p.send_wall_s for p in parts),
            connections=sum(p.connections for p in parts),
            stopped_by=",".join(sorted({p.stopped_by for p in parts})),
        )


def runqueue_wait_s(pids: list[int]) -> float:
    """Seconds the threads of `pids` spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def arrival_offsets(
    rate: float, seconds: float, max_requests: int, seed: int, cv2: float = 1.0
) -> np.ndarray:
    """Arrival times (s) of a renewal process of `rate` within [0, seconds), at most `max_requests`.

    cv2 1 is Poisson (exponential gaps), 0 evenly spaced, otherwise gamma gaps of that squared CV.
    """
    check_real("rate", rate, lo=0.0, lo_open=True)
    check_real("seconds", seconds, lo=0.0, lo_open=True)
    check_int("max_requests", max_requests, lo=1)
    check_real("cv2", cv2, lo=0.0, hi=100.0)
    rng = np.random.default_rng(seed)
    n = min(max_requests, int(rate * seconds * 1.2 + 10 * math.sqrt(rate * seconds * (1 + cv2)) + 10))
    mean_gap = 1.0 / rate
    if cv2 == 0.0:
        gaps = np.full(n, mean_gap)
    elif cv2 == 1.0:
        gaps = rng.exponential(mean_gap, n)
    else:
        gaps = rng.gamma(1.0 / cv2, mean_gap * cv2, n)
    t = np.cumsum(gaps)
    t = t[t < seconds]
    return t[:max_requests]


def class_choices(shares: tuple[float, ...], n: int, seed: int) -> np.ndarray:
    """The class index of each of `n` requests, drawn with the given shares (seeded)."""
    p = np.asarray(shares, dtype=float)
    if p.ndim != 1 or len(p) == 0 or np.any(p < 0) or not math.isclose(float(p.sum()), 1.0, abs_tol=1e-6):
        raise ValueError(f"shares must be non-negative and sum to 1, got {list(shares)}")
    rng = np.random.default_rng(seed + 7_919)
    return rng.choice(len(p), size=n, p=p / p.sum())
