"""A reference simulation of one core shared as CPython shares the GIL between an event loop and threads.

Requests arrive as a Poisson stream. Each takes a turn on the event loop (a FIFO single server) that needs
`loop_ms` of CPU, then its worker thread needs `thread_ms` of CPU, then it waits `io_ms` and is done.
The core serves the loop first: a loop turn never waits behind queued thread bursts, only behind the
burst already running (non-preemptive priority), and the thread dispatched by a turn joins the back of the
threads' FIFO queue when that turn ends, so it waits for every loop turn queued by then. Threads are
unlimited (no token queue).

It is written as a plain event loop over a heap, independently of sizing's engine (which encodes the same
semantics in its instruction stream and hand-over order). Nothing here imports :mod:`sizing`.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class GilRun:
    latency_mean_ms: float
    loop_wait_mean_ms: float  # waiting for the loop itself, per request
    thread_wait_mean_ms: float  # a thread's wait for the core, per request


def simulate_gil(
    rps: float, loop_ms: float, thread_ms: float, io_ms: float, requests: int, warmup: int, seed: int
) -> GilRun:
    rng = random.Random(seed)
    lam = rps / 1000.0
    arrivals: list[float] = []
    t = 0.0
    for _ in range(requests):
        t += rng.expovariate(lam)
        arrivals.append(t)

    loop_queue: deque[int] = deque()  # requests waiting for the loop
    thread_queue: deque[int] = deque()  # dispatched threads waiting for the core
    loop_busy = False  # a request holds the loop (its CPU turn may be waiting for the core)
    cpu_busy = False
    loop_waiting_cpu = -1  # the loop holder, when it waits for the core
    loop_start = [0.0] * requests
    thread_ready = [0.0] * requests
    thread_wait = [0.0] * requests
    done_at = [0.0] * requests
    events: list[tuple[float, int, int, int]] = []  # (time, order, kind, request)
    seq = 0
    ARRIVE, LOOP_CPU_DONE, THREAD_CPU_DONE, IO_DONE = range(4)
    for i, a in enumerate(arrivals):
        events.append((a, seq, ARRIVE, i))
        seq += 1
    heapq.heapify(events)

    def push(when: float, kind: int, i: int) -> None:
        nonlocal seq
        heapq.heappush(events, (when, seq, kind, i))
        seq += 1

    def start_loop_turn(now: float, i: int) -> None:
        nonlocal loop_busy, loop_waiting_cpu, cpu_busy
        loop_busy = True
        loop_start[i] = now
        if cpu_busy:
            loop_waiting_cpu = i  # served as soon as the running burst ends, before any queued thread
        else:
            cpu_busy = True
            push(now + loop_ms, LOOP_CPU_DONE, i)

    def core_free(now: float) -> None:
        nonlocal cpu_busy, loop_waiting_cpu
        cpu_busy = False
        if loop_waiting_cpu >= 0:
            i, loop_waiting_cpu = loop_waiting_cpu, -1
            cpu_busy = True
            push(now + loop_ms, LOOP_CPU_DONE, i)
        elif thread_queue:
            i = thread_queue.popleft()
            thread_wait[i] = now - thread_ready[i]
            cpu_busy = True
            push(now + thread_ms, THREAD_CPU_DONE, i)

    while events:
        now, _, kind, i = heapq.heappop(events)
        if kind == ARRIVE:
            if loop_busy:
                loop_queue.append(i)
            else:
                start_loop_turn(now, i)
        elif kind == LOOP_CPU_DONE:
            # The turn ends and dispatches its thread; the loop keeps the core for its next turn.
            thread_ready[i] = now
            thread_queue.append(i)
            loop_busy = False
            cpu_busy = False
            if loop_queue:
                nxt = loop_queue.popleft()
                loop_busy = True
                loop_start[nxt] = now
                cpu_busy = True
                push(now + loop_ms, LOOP_CPU_DONE, nxt)
            else:
                core_free(now)
        elif kind == THREAD_CPU_DONE:
            push(now + io_ms, IO_DONE, i)
            core_free(now)
        else:
            done_at[i] = now

    measured = range(warmup, requests)
    n = len(measured)
    return GilRun(
        latency_mean_ms=sum(done_at[i] - arrivals[i] for i in measured) / n,
        loop_wait_mean_ms=sum(loop_start[i] - arrivals[i] for i in measured) / n,
        thread_wait_mean_ms=sum(thread_wait[i] for i in measured) / n,
    )
