"""The event engine: one replication of one worker process, request by request.

Every resource is a FIFO multi-server queue. A request runs its class program (see _program) until it
must wait: for a resource (it joins that resource's queue) or for a delay (one event on the heap). A
release hands the server straight to the head of the queue, which then resumes at the same instant;
the releaser carries on first, so a request whose next pass asks for the same resource again queues
behind the ones already waiting (the back of the FIFO, as AnyIO's limiter does).

The core is shared as CPython shares the GIL between the event loop and the worker threads: the loop keeps
it from one callback to the next. So the request holding the loop goes to the front of the CPU queue (it
waits only for the burst in service), and when the loop passes to the next request, that request runs
before the releaser goes on, so the thread the releaser dispatches waits for the next loop turn's CPU.

A DB checkout that waits the pool's timeout fails its request (a 500): the request leaves the DB queue,
gives back the token its pass holds and ends. A worker whose every token is held by a pass waiting for a
connection, for longer than `_STALL_MS` (or half the timeout when that is shorter), is counted as stalled
from the moment the last token went that way: with a session held across passes, the connections'
holders then need a token to finish, and only the timeout breaks the wait.

Bounded by design: arrivals stop at the last measured request plus a margin, the replication stops as
soon as every measured request is done, and the wall clock is checked every few thousand events.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heappop, heappush

import numpy as np
from numpy.typing import NDArray

from sizing.simulation._distributions import Stream
from sizing.simulation._program import (
    ACQUIRE,
    CPU,
    DB,
    DELAY,
    END,
    FAIL,
    LOOP,
    N_RESOURCES,
    OP_SHIFT,
    RESPOND,
    TOKEN,
    WorkerSpec,
)

__all__ = ["Replication", "run_replication"]

# Events between two looks at the wall clock (and the progress callback).
_CHECK_EVERY = 4096
_CLASS_BLOCK = 4096
_MASK = (1 << OP_SHIFT) - 1
# Every token held by a checkout this long counts as a stall (see the module docstring).
_STALL_MS = 1000.0


@dataclass(slots=True)
class Replication:
    """Raw measurements of one replication (times in ms); only requests after the warm-up are measured."""

    latencies: list[list[float]]  # per class
    waits: list[list[float]]  # per resource, one per visit
    hold_sum: list[float] = field(default_factory=lambda: [0.0] * N_RESOURCES)
    hold_sq: list[float] = field(default_factory=lambda: [0.0] * N_RESOURCES)
    hold_n: list[int] = field(default_factory=lambda: [0] * N_RESOURCES)
    measured: int = 0  # requests in the measurement window that were admitted
    completed: int = 0  # of them, completed
    shed: int = 0  # of them, refused at arrival by admission control
    arrivals: int = 0  # requests generated, warm-up and margin included
    window_ms: float = 0.0  # first to last measured arrival
    departures_in_window: int = 0
    in_system_start: int = 0
    in_system_end: int = 0
    truncated: bool = False  # stopped by the wall clock
    overrun: bool = False  # arrival margin used up with measured requests unfinished
    failed: int = 0  # of the measured requests, failed by a checkout past the pool's timeout
    stall_starts_ms: list[float] = field(default_factory=list)  # warm-up included
    simulated_ms: float = 0.0  # the clock at the end
    stopped_at_stall: bool = False

    def latency_array(self, k: int) -> NDArray[np.float64]:
        return np.asarray(self.latencies[k], dtype=np.float64)


@dataclass(slots=True)
class _Stalls:
    """Stall episodes: spells with every token held by a waiting checkout, each at least `min_ms` long;
    spells less than `min_ms` apart are one episode (a stalled worker whose checkouts time out one by one
    hands each freed token to the next checkout, and is all blocked again at once)."""

    min_ms: float
    since: float = -1.0  # when the current spell began
    end: float = -math.inf  # when the last episode's last spell ended
    starts: list[float] = field(default_factory=list)

    def leave(self, t: float) -> None:
        """The spell that began at `since` ends at `t`."""
        if self.since - self.end < self.min_ms:
            self.end = t
        elif t - self.since >= self.min_ms:
            self.starts.append(self.since)
            self.end = t

def run_replication(
    spec: WorkerSpec,
    n_total: int,
    n_warm: int,
    rng: np.random.Generator,
    *,
    deadline: float,
    margin: int,
    tick: Callable[[int], bool] | None = None,
    admission_limit: int | None = None,
    stop_at_stall: bool = False,
    burst: int = 0,
) -> Replication:
    """Simulate requests 0..n_total-1 (and up to `margin` more so the last measured ones finish under the
    same load); requests n_warm..n_total-1 are measured. `tick(arrivals)` is called now and then; it and
    `deadline` (perf_counter) can stop the run early, which sets `truncated`. With `admission_limit`, an
    arrival that finds that many requests in the worker is refused at once (no resource, not measured).
    The first `burst` requests arrive together at time 0. `stop_at_stall` ends the run
    (`stopped_at_stall`) once its first stall episode is known, at the end of its first spell.
    """
    # One function on purpose: this is the per-event loop, and the attribute look-ups and calls that
    # helpers would add are paid on every event (locals are the fastest names CPython has).
    n_classes = len(spec.classes)
    codes = [c.code for c in spec.classes]
    shares = np.array([c.share for c in spec.classes])
    shares = shares / shares.sum()
    draws = [Stream(s, rng).next for s in spec.samplers]
    next_gap = Stream(spec.arrival, rng).next
    cap = list(spec.capacity)
    busy = [0] * N_RESOURCES
    queues: list[deque[int]] = [deque() for _ in range(N_RESOURCES)]
    rep = Replication([[] for _ in range(n_classes)], [[] for _ in range(N_RESOURCES)])
    waits, hold_sum, hold_sq, hold_n, lat = rep.waits, rep.hold_sum, rep.hold_sq, rep.hold_n, rep.latencies

    r_cls: list[int] = []
    r_pc: list[int] = []
    r_arr: list[float] = []
    r_wait_from: list[float] = []
    r_acq: list[float] = []  # N_RESOURCES entries per request: when it got each resource
    heap: list[tuple[float, int]] = []
    classes: list[int] = []
    ci = 0
    t_next = 0.0 if burst > 0 else next_gap()
    n_arr = 0
    max_arr = n_total + margin
    departures = 0
    to_measure = n_total - n_warm
    done_measured = 0
    refused = 0
    t_window0 = 0.0
    dep_window0 = 0
    events = 0
    stop_at = _CHECK_EVERY
    loop_holder = -1  # the request holding the event loop, if any
    aborts = [c.aborts for c in spec.classes]
    token_checkouts = [c.token_checkouts for c in spec.classes]
    db_timeout = spec.db_timeout_ms
    timed = db_timeout < float("inf")
    stalls = _Stalls(min(_STALL_MS, db_timeout / 2.0))
    r_deadline: list[float] = []  # when the request's checkout times out; -1 when it is not waiting
    r_tok_wait: list[bool] = []  # waiting for a connection with a token held
    tok_blocked = 0  # tokens held by checkouts that wait

    while True:
        if heap and (heap[0][0] <= t_next or n_arr >= max_arr):
            t, rid = heappop(heap)
        elif n_arr < max_arr:
            t = t_next
            rid = n_arr
            if ci == len(classes):
                classes = rng.choice(n_classes, _CLASS_BLOCK, p=shares).tolist()
                ci = 0
            r_cls.append(classes[ci])
            ci += 1
            r_pc.append(0)
            r_arr.append(t)
            r_wait_from.append(0.0)
            r_deadline.append(-1.0)
            r_tok_wait.append(False)
            r_acq.extend((0.0,) * N_RESOURCES)
            if rid == n_warm:
                t_window0, dep_window0 = t, departures
                rep.in_system_start = rid - departures - refused
            if rid == n_total - 1:
                rep.window_ms = t - t_window0
                rep.departures_in_window = departures - dep_window0
                rep.in_system_end = rid - departures - refused
            n_arr += 1
            t_next = t + (next_gap() if n_arr >= burst else 0.0)
            if admission_limit is not None and rid - departures - refused >= admission_limit:
                refused += 1
                if n_warm <= rid < n_total:
                    to_measure -= 1
                    rep.shed += 1
                continue
        else:
            break
        if rid < 0:  # a checkout's timeout
            rid = ~rid
            if r_deadline[rid] != t:
                continue  # it got its connection in time
            r_deadline[rid] = -1.0
            queues[DB].remove(rid)
            if r_tok_wait[rid]:
                r_tok_wait[rid] = False
                if tok_blocked == cap[TOKEN]:
                    stalls.leave(t)
                tok_blocked -= 1
            r_pc[rid] = aborts[r_cls[rid]][r_pc[rid]]
        events += 1
        if events >= stop_at:
            stop_at += _CHECK_EVERY
            if time.perf_counter() > deadline or (tick is not None and not tick(n_arr)):
                rep.truncated = True
                break

        ready = [rid]
        while ready:
            rid = ready.pop()
            code = codes[r_cls[rid]]
            pc = r_pc[rid]
            measured = n_warm <= rid < n_total
            while True:
                op = code[pc]
                kind = op & _MASK
                pc += 1
                if kind == DELAY:
                    heappush(heap, (t + draws[op >> OP_SHIFT](), rid))
                    break
                if kind == RESPOND:
                    if measured:
                        lat[r_cls[rid]].append(t - r_arr[rid])
                    continue
                if kind == END:
                    departures += 1
                    if measured:
                        done_measured += 1
                    break
                if kind == FAIL:
                    if measured:
                        rep.failed += 1
                    continue
                res = op >> OP_SHIFT
                if kind == ACQUIRE:
                    if busy[res] < cap[res]:
                        busy[res] += 1
                        r_acq[rid * N_RESOURCES + res] = t
                        if res == LOOP:
                            loop_holder = rid
                        if measured:
                            waits[res].append(0.0)
                        continue
                    if res == CPU and rid == loop_holder:
                        queues[res].appendleft(rid)
                    else:
                        queues[res].append(rid)
                    r_wait_from[rid] = t
                    if res == DB:
                        if timed:
                            r_deadline[rid] = t + db_timeout
                            heappush(heap, (t + db_timeout, ~rid))
                        if pc in token_checkouts[r_cls[rid]]:
                            r_tok_wait[rid] = True
                            tok_blocked += 1
                            if tok_blocked == cap[TOKEN]:
                                stalls.since = t
                    break
                # RELEASE
                if measured:
                    h = t - r_acq[rid * N_RESOURCES + res]
                    hold_sum[res] += h
                    hold_sq[res] += h * h
                    hold_n[res] += 1
                q = queues[res]
                if res == LOOP:
                    loop_holder = -1
                if q:
                    nxt = q.popleft()
                    r_acq[nxt * N_RESOURCES + res] = t
                    if res == DB:
                        r_deadline[nxt] = -1.0
                        if r_tok_wait[nxt]:
                            r_tok_wait[nxt] = False
                            if tok_blocked == cap[TOKEN]:
                                stalls.leave(t)
                            tok_blocked -= 1
                    if n_warm <= nxt < n_total:
                        waits[res].append(t - r_wait_from[nxt])
                    if res == LOOP:
                        # The next loop turn runs first (ready is a stack): this request goes on after it.
                        loop_holder = nxt
                        ready.append(rid)
                        ready.append(nxt)
                        break
                    ready.append(nxt)
                else:
                    busy[res] -= 1
            r_pc[rid] = pc
        if done_measured == to_measure and n_arr >= n_total:
            break
        if stop_at_stall and stalls.starts:
            rep.stopped_at_stall = True
            break

    if tok_blocked == cap[TOKEN]:
        stalls.leave(t)
    rep.stall_starts_ms = stalls.starts
    rep.simulated_ms = t
    rep.measured = to_measure
    rep.completed = done_measured
    rep.arrivals = n_arr
    rep.overrun = done_measured < to_measure and not (rep.truncated or rep.stopped_at_stall)
    return rep
