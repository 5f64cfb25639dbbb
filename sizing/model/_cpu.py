"""A worker's one core as CPython shares it: the event loop first, the threads between its batches, and
everyone stopped by the cyclic garbage collector.

Pure functions on the lifecycle's phases and on waits; `sizing.model._worker` puts them into the stages.
"""

from __future__ import annotations

import math

from sizing.model._latency import Stall, Wait
from sizing.queueing._erlang import erlang_b, erlang_c
from sizing.queueing._ggc import ggc
from sizing.scenario._lifecycle import Phase, before_response
from sizing.scenario._models import Runtime

__all__ = [
    "bare_token_wait",
    "busy_others_share",
    "cpu_segments",
    "gc_stall",
    "gil_moments",
    "gil_waits",
    "livelock_rps",
]


def cpu_segments(phases: tuple[Phase, ...], *, split_at_first_pass: bool = False) -> list[float]:
    """A request's CPU as the core receives it: runs of `cpu` steps with no waiting step between them.

    A `def` request's loop turn dispatches its first pass the moment it ends when a token is free, so their
    CPU reaches the core together, as one job; a wait for a token before the first pass splits it
    (`split_at_first_pass`), and so does an I/O, DB, HTTP or blocking step. Each later pass lets go of the
    core at its end and queues for it again after its hand-off: a job of its own. (Joining the passes made
    the core's jobs too long: pure-CPU response-model requests came out +12..+33% on the mean against the
    simulator, and -5..-10% with the passes apart.)
    """
    out: list[float] = []
    run = 0.0
    first_pass = True
    for phase in phases:
        if phase.on_thread and not first_pass and run > 0:
            out.append(run)
            run = 0.0
        if phase.holds == "token" and first_pass:
            first_pass = False
            if split_at_first_pass and run > 0:
                out.append(run)
                run = 0.0
        for step in phase.steps:
            if step.kind == "cpu":
                run += step.mean_ms
                continue
            if step.mean_ms > 0 and run > 0:
                out.append(run)
                run = 0.0
            # CPU held inside a step (a DB driver's) comes after round trips: each piece a job of its own.
            out.extend(ms for ms in step.held_cpu_ms if ms > 0)
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


def busy_others_share(tokens: int, token_load: float) -> float:
    """The other threads a token holder finds busy, as a share of the open-queue figure.

    With B the busy tokens of an M/M/c limiter (c = `tokens`, offered load a = `token_load`, the requests'
    token time at the bare holds), a token holder finds E[B^2] / E[B] - 1 others busy (the busy-count-biased
    view). Without a limit B is Poisson(a) and that is a, what an open queue assumes; with one token it is
    0, and with the limiter saturated c - 1. The share is their ratio: 1 for many tokens at light load,
    (c - 1) / c when every token is always busy.
    """
    if token_load <= 0.0:
        return 1.0
    if token_load >= tokens:
        return (tokens - 1) / tokens
    if tokens == 1:
        return 0.0
    a, c = token_load, tokens
    all_busy = float(erlang_c(c, a))
    top = float(erlang_b(c - 1, a))  # P(K = c - 1) for K the busy count given fewer than c are busy
    below = top * (c - 1) / a  # P(K = c - 2)
    k1 = a * (1.0 - top)
    k2 = a * a * max(1.0 - top - below, 0.0) + k1  # E[K^2] = E[K(K - 1)] + E[K]
    busy = (1.0 - all_busy) * k1 + all_busy * c
    busy2 = (1.0 - all_busy) * k2 + all_busy * c * c
    if busy <= 0.0:
        return 1.0
    return min(max((busy2 / busy - 1.0) / a, 0.0), 1.0)


def gil_waits(
    segment_wait: Wait,
    rho_loop: float,
    rho_threads: float,
    thread_burst_sq_over_mean_ms: float,
    others_share: float = 1.0,
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

    A thread holding one of c tokens competes with the loop and at most c - 1 other threads, not with every
    thread burst of an open queue: with one token it never waits behind another thread. It sees the share
    `others_share` of the threads' CPU load (see `busy_others_share`, from the token load `token_load`), so
    the core is busy on arrival with probability rho_seen = rho_loop + share x rho_threads instead of rho,
    and the wait once busy shrinks by (1 - rho) / (1 - rho_seen).
    """
    loop_wait = Stall(min(rho_threads, 1.0), thread_burst_sq_over_mean_ms)
    wait = segment_wait
    rho = rho_loop + rho_threads
    if others_share < 1.0 and wait.p_wait > 0 and 0.0 < rho < 1.0:
        seen = rho_loop + rho_threads * others_share
        stretch = (1.0 - rho) / (1.0 - seen)
        wait = Wait(wait.p_wait * seen / rho, wait.rate_per_ms / stretch, wait.shift_ms * stretch)
    return wait.scaled(1.0 / (1.0 - rho_loop)), loop_wait


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
    """Moments of a request that need the GIL before its response: each loop turn and token pass, the
    response on the loop (its own turn unless the request ends on one), and each piece of CPU a driver runs
    after a round trip."""
    phases = before_response(phases)
    held = sum(len(s.held_cpu_ms) for p in phases for s in p.steps)
    return sum(1 for p in phases if p.holds is not None) + (0 if phases[-1].holds == "loop" else 1) + held


def _cpu_of(phase: Phase) -> float:
    """The phase's CPU: its CPU steps and the CPU held inside its other steps."""
    return math.fsum(s.mean_ms if s.kind == "cpu" else sum(s.held_cpu_ms) for s in phase.steps)


def livelock_rps(classes: list[tuple[float, tuple[Phase, ...]]]) -> float | None:
    """Completions per second of a worker whose core is past saturation and which admits every arrival.

    `classes` is (arrival rate per s, phases) per request class. The loop goes first on the core, so it
    parses every arrival whatever the backlog: the threads get only what the loop leaves, 1 - U_loop, and
    the classes with thread CPU finish at (1 - U_loop) / (their mean thread CPU per request); the others at
    their arrival rate. None when the core is not past saturation, or the loop alone saturates it (then the
    loop is the bottleneck, and it completes what it admits).
    """
    loop_ms = thread_ms = 0.0
    threaded_rate = plain_rate = 0.0
    for lam, phases in classes:
        on_loop = math.fsum(_cpu_of(p) for p in phases if not p.on_thread)
        off_loop = math.fsum(_cpu_of(p) for p in phases if p.on_thread)
        loop_ms += lam * on_loop
        thread_ms += lam * off_loop
        if off_loop > 0:
            threaded_rate += lam
        else:
            plain_rate += lam
    u_loop, u_threads = loop_ms / 1000.0, thread_ms / 1000.0
    if u_loop + u_threads <= 1.0 or u_loop >= 1.0 or threaded_rate <= 0:
        return None
    per_request_ms = thread_ms / threaded_rate
    return plain_rate + (1.0 - u_loop) / per_request_ms * 1000.0
