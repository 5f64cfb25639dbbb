"""What the emulating server measures and controls about itself: CPU burns, counters, GC pauses, the CPU
per request it is asked to hold, and admission at overload.

Imported by the emulating app inside the server process, which loads only what a request needs (see
the harness's lean boot): nothing here imports numpy, scipy or the calculator.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Admission", "AdmissionGate", "Control", "GcClock", "Meter", "burn", "control_cpu"]

_CHUNK = 40  # loop iterations between two reads of the thread CPU clock (~1 us each): a few us of overshoot
# The CPU control measures batches of at least this long and this many requests; the framework's own CPU
# per request is their exponential average with this weight on the newest.
_CONTROL_POLL_S = 0.1
_CONTROL_BATCH_S = 0.5
_CONTROL_MIN_REQUESTS = 50
_CONTROL_WEIGHT = 0.3
_MAX_BURN_FACTOR = 3.0


def burn(ms: float) -> float:
    """Hold the GIL computing until this thread has used `ms` of CPU; returns the CPU used (ms)."""
    if ms <= 0.0:
        return 0.0
    start = time.thread_time()
    end = start + ms / 1000.0
    x = 0
    while time.thread_time() < end:
        for i in range(_CHUNK):
            x += i
    return (time.thread_time() - start) * 1000.0


class Meter:
    """Counters shared by the loop and the worker threads (a lock: `+=` is not atomic across threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, float] = {}

    def add(self, key: str, value: float = 1.0) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0.0) + value

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            return dict(self.counts)


class GcClock:
    """Stop-the-world pauses of CPython's cyclic collector in this process, per generation.

    A collection holds the GIL: the loop and every thread stall for its duration. Full (generation 2)
    pauses are kept with their end times so a point can report its own; the model takes them as separate
    stalls (runtime.gc_pause_ms), not as CPU per request.
    """

    def __init__(self) -> None:
        self.t0 = 0.0
        self.full: deque[tuple[float, float]] = deque(maxlen=2_000)  # (end monotonic s, pause ms)
        self.n = [0, 0, 0]
        self.ms = [0.0, 0.0, 0.0]

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.t0 = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - self.t0) * 1000.0
        gen = int(info.get("generation", 0))
        self.n[gen] += 1
        self.ms[gen] += pause_ms
        if gen == 2:
            self.full.append((time.monotonic(), pause_ms))


class Control:
    """What holds the emulated CPU per request at its target: every burn is scaled by `factor`."""

    def __init__(self, *, poll_s: float = _CONTROL_POLL_S, batch_s: float = _CONTROL_BATCH_S) -> None:
        self.poll_s = poll_s  # how often the control looks at the counters
        self.batch_s = batch_s  # the shortest batch it measures
        self.factor = 1.0
        self.enabled = False
        self.target_ms = 0.0  # the mix's CPU per request, full GC excluded
        self.stats_cost_s = 0.0  # server CPU of one /_stats sample (calibrated by the harness)
        self.idle_cores = 0.0  # what the idle server burns anyway (calibrated by the harness)
        self.framework_ms: float | None = None  # estimated CPU per request outside the burns
        self.batches = 0


async def control_cpu(
    control: Control,
    meter: Meter,
    gc_clock: GcClock,
    planned_ms: Callable[[], float],
    cpu_clock: Callable[[], float] = time.process_time,
) -> None:
    """Scale the burns so the mix costs `control.target_ms` of CPU per request (full GC pauses excluded).

    Each batch (at least `control.batch_s` and _CONTROL_MIN_REQUESTS) measures the process's CPU per completed
    request M at the current factor k, less the full collections' pauses, the /_stats samples (counted as
    `stats.n`) and the idle server's own CPU. What the framework costs beyond the burns, M - k B with B the
    planned burn per request at factor 1 (`planned_ms()`), is averaged over batches (weight
    _CONTROL_WEIGHT on the newest), and k = (target - that) / B. While control is off k stays where it is.
    """
    start: tuple[float, float, float, float, float] | None = None
    while True:
        await asyncio.sleep(control.poll_s)
        counts = meter.snapshot()
        now = (
            time.monotonic(),
            cpu_clock(),
            math.fsum(v for k, v in counts.items() if k.startswith("done.")),
            counts.get("stats.n", 0.0),
            gc_clock.ms[2],
        )
        if not control.enabled:
            start = None
            continue
        if start is None:
            start = now
            continue
        done = now[2] - start[2]
        if now[0] - start[0] < control.batch_s or done < _CONTROL_MIN_REQUESTS:
            continue
        cpu_s = (
            now[1] - start[1]
            - (now[3] - start[3]) * control.stats_cost_s
            - (now[4] - start[4]) / 1000.0
            - (now[0] - start[0]) * control.idle_cores
        )  # fmt: skip
        per_request_ms = cpu_s * 1000.0 / done
        planned = planned_ms()
        if planned > 0.0:
            framework = per_request_ms - control.factor * planned
            prior = control.framework_ms
            control.framework_ms = framework if prior is None else prior + _CONTROL_WEIGHT * (framework - prior)
            wanted = (control.target_ms - control.framework_ms) / planned
            control.factor = min(max(wanted, 0.0), _MAX_BURN_FACTOR)
            control.batches += 1
        start = now


class AdmissionGate:
    """Requests in flight on the endpoint routes, and the limit past which they are answered 503."""

    def __init__(self) -> None:
        self.limit: int | None = None
        self.in_flight = 0
        self.shed = 0


class Admission:
    """Answer 503 at once past `gate.limit` requests in flight on the /e/ routes (pure ASGI, a few us)."""

    def __init__(self, app: Any, gate: AdmissionGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gate = self.gate
        if scope["type"] != "http" or not scope["path"].startswith("/e/"):
            await self.app(scope, receive, send)
            return
        if gate.limit is not None and gate.in_flight >= gate.limit:
            gate.shed += 1
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        gate.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.in_flight -= 1
