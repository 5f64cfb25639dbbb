"""A worker's one core as CPython shares it: the event loop first, the threads between its batches, and
everyone stopped by the cyclic garbage collector.

Pure functions on the lifecycle's phases and on waits; `sizing._stages` puts them into the stages.
"""

from __future__ import annotations

import math

from sizing._ggc import ggc
from sizing._latency import Stall, Wait
from sizing._lifecycle import Phase
from sizing._scenario import Runtime

__all__ = ["bare_token_wait", "cpu_segments", "gc_stall", "gil_moments", "gil_waits"]


def cpu_segments(phases: tuple[Phase, ...], *, split_at_first_pass: bool = False) -> list[float]:
    """A request's CPU as the core receives it: runs of `cpu` steps with no waiting step between them.

    A `def` request's loop turn dispatches its first pass the moment it ends when a token is free, and a
    dependency pass hands over to the next pass, so their CPU reaches the core together, as one job (a
    hand-off is too short to matter); an I/O, DB, HTTP or blocking step in between splits it, and so does a
    wait for a token before the first pass (`split_at_first_pass`).
    """
    out: list[float] = []
    run = 0.0
    first_pass = True
    for phase in phases:
        if phase.holds == "token" and first_pass:
            first_pass = False
            if split_at_first_pass and run > 0:
                out.append(run)
                run = 0.0
        for step in phase.steps:
            if step.kind == "cpu":
                run += step.mean_ms
            elif step.mean_ms > 0 and run > 0:
                out.append(run)
                run = 0.0
    if run > 0:
        out.append(run)
    return out


def bare_token_wait(jobs: list[tuple[float, float]], tokens: int, ca2: float) -> float:
    """P(a request waits for a token), from the limiter with each request's passes at their bare holds:
    `jobs` is (rate per s, token ms per request) per class."""
    rate = math.fsum(lam for lam, hold in jobs if hold > 0)
    if rate <= 0:
        return 0.0
    first = math.fsum(lam * hold for lam, hold in jobs if hold > 0)
    second = math.fsum(lam * hold * hold for lam, hold in jobs if hold > 0)
    mean = first / rate
    cv2 = max(second / rate / (mean * mean) - 1.0, 0.0)
    q = ggc(rate, mean / 1000.0, tokens, arrival_cv2=ca2, service_cv2=cv2)
    return min(float(q.p_wait), 1.0) if q.stable else 1.0


def gil_waits(
    segment_wait: Wait, rho_loop: float, rho_threads: float, thread_burst_sq_over_mean_ms: float
) -> tuple[Wait, Stall]:
    """(a thread's wait for the core, the loop's wait for it) as CPython shares the GIL.

    The event loop keeps the GIL across consecutive callbacks: a worker thread gets the core only between
    the loop's batches, so the loop's CPU step waits at most for the thread burst already running
    (probability rho_threads, a uniform share of it for the constant bursts of the lifecycle: mean residual
    E[S^2] / (2 E[S]), so the width is E[S^2] / E[S]) and never for queued threads. A thread waits like the
    low class of a non-preemptive priority M/G/1, the FIFO wait / (1 - rho_loop), where the FIFO wait
    (`segment_wait`) is that of the requests' CPU segments (`cpu_segments`): a thread's burst arrives right
    behind its own request's loop turn, so the core sees them as one job. Measured on a real uvicorn worker
    (40 tokens, 50 ms `def` bodies, about 1.3 ms of CPU on the loop and as much in the thread per request):
    at 340 rps the simulator with these semantics gave 71.2 / 137.5 ms (mean / p99) against 71.7 / 138.0
    measured, and 62.8 / 98.5 with a FIFO core.
    """
    loop_wait = Stall(min(rho_threads, 1.0), thread_burst_sq_over_mean_ms)
    return segment_wait.scaled(1.0 / (1.0 - rho_loop)), loop_wait


def gc_stall(runtime: Runtime, rate: float, rho: float) -> Stall | None:
    """What full garbage collections do to each moment of a request that needs the GIL (None: not modelled).

    Pauses of length P come at f = rate (per s) x pauses per request. A pause stalls the loop and every
    thread, and the work that piles up behind it drains at the spare capacity 1 - rho of the busier of the
    core and the loop (`rho`): the backlog falls linearly from P to 0 over P / (1 - rho). A moment lands in that window with
    probability f P / (1 - rho) and then waits a uniform share of P. The GC time itself (f P, 1-2% of the
    time below saturation on the reference VM) is not added to any stage's utilization.
    """
    rt = runtime
    if rt.gc_pause_ms <= 0 or rt.gc_pauses_per_1k_requests <= 0 or rate <= 0 or not rho < 1.0:
        return None
    per_ms = rate / 1000.0 * rt.gc_pauses_per_1k_requests / 1000.0
    return Stall(min(1.0, per_ms * rt.gc_pause_ms / (1.0 - rho)), rt.gc_pause_ms)


def gil_moments(phases: tuple[Phase, ...]) -> int:
    """Moments of a request that need the GIL: each loop turn and token pass, and the response on the loop
    (its own turn unless the request ends on one)."""
    return sum(1 for p in phases if p.holds is not None) + (0 if phases[-1].holds == "loop" else 1)
