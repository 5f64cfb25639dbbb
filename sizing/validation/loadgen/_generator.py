"""The open-loop load generator: a separate process sending a seeded renewal (Poisson) schedule to 127.0.0.1.

Run as `python -m sizing.validation.loadgen SPEC_JSON`; prints a JSON result on stdout.
Each request is sent at its scheduled time on an idle keep-alive connection (a new one is opened when none
is idle: one connection per request in flight, so the client never queues a request behind another), and
its latency is taken from the scheduled time, not the send time: a late send is counted, not hidden (no
coordinated omission). The run is bounded by the request count, by `seconds` of schedule, and by a hard
wall-clock deadline; requests still open at the drain deadline are errors.

The client is a minimal HTTP/1.1 protocol on uvloop (when installed): a fraction of httpx's CPU per
request, which keeps the generator's own ceiling well above the rates it is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import sys
import time
from collections import deque
from typing import Any, cast

import numpy as np

from sizing.validation.loadgen._spec import (
    LoadResult,
    LoadSpec,
    arrival_offsets,
    class_choices,
    runqueue_wait_s,
)

__all__ = [
    "LoadResult",
    "LoadSpec",
    "arrival_offsets",
    "class_choices",
    "main",
    "run_spec",
    "runqueue_wait_s",
]

LOOPBACK = "127.0.0.1"
_STATUS_LOST = -1  # the connection closed with the request open
_STATUS_CAP = -2  # the client's connection cap was reached: the generator, not the server, refused it
_STATUS_OPEN = 0  # no response by the drain deadline


class _Conn(asyncio.Protocol):
    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.req = -1
        self.need = -1
        self.status = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.need < 0:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            self.status = int(head[9:12])
            i = head.find(b"\r\ncontent-length:")
            if i < 0:  # every route of the emulating app sends a Content-Length
                self.status = _STATUS_LOST
                self.need = end + 4
            else:
                j = head.find(b"\r\n", i + 2)
                self.need = end + 4 + int(head[i + 17 : j if j > 0 else len(head)])
        if len(self.buf) >= self.need:
            del self.buf[: self.need]
            self.need = -1
            self.gen.complete(self, self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gen.lost(self)


class _Generator:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.offsets = arrival_offsets(
            spec.rate, spec.seconds, spec.max_requests, spec.seed, spec.arrival_cv2
        )
        n = len(self.offsets)
        self.cls = class_choices(spec.shares, n, spec.seed)
        self.requests = [f"GET {p} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode() for p in spec.paths]
        self.sent = np.full(n, math.nan)
        self.done = np.full(n, math.nan)
        self.status = np.zeros(n, dtype=int)
        self.idle: deque[_Conn] = deque()
        self.conns: list[_Conn] = []
        self.opened = 0
        self.inflight = 0
        self.t0 = 0.0
        self.all_sent = False
        self.drained = asyncio.Event()

    async def _open(self) -> _Conn:
        loop = asyncio.get_running_loop()
        self.opened += 1
        _, conn = await loop.create_connection(lambda: _Conn(self), LOOPBACK, self.spec.port)
        self.conns.append(conn)
        return conn

    def complete(self, conn: _Conn, status: int) -> None:
        i = conn.req
        if i < 0:
            return
        self.done[i] = time.monotonic() - self.t0
        self.status[i] = status
        conn.req = -1
        self.idle.append(conn)
        self._finish_one()

    def lost(self, conn: _Conn) -> None:
        if conn.req >= 0:
            self.status[conn.req] = _STATUS_LOST
            conn.req = -1
            self._finish_one()

    def _finish_one(self) -> None:
        self.inflight -= 1
        if self.all_sent and self.inflight == 0:
            self.drained.set()

    def _write(self, conn: _Conn, i: int) -> None:
        assert conn.transport is not None
        conn.req = i
        self.inflight += 1
        conn.transport.write(self.requests[self.cls[i]])
        self.sent[i] = time.monotonic() - self.t0

    async def _open_and_send(self, i: int) -> None:
        try:
            conn = await self._open()
        except OSError:
            self.status[i] = _STATUS_LOST
            return
        self._write(conn, i)

    def _send(self, i: int, tasks: set[asyncio.Task[None]]) -> None:
        while self.idle:
            conn = self.idle.popleft()  # FIFO: rotates over every connection (and every uvicorn worker)
            if not conn.closed:
                self._write(conn, i)
                return
        if self.opened >= self.spec.max_connections:
            self.status[i] = _STATUS_CAP
            return
        task = asyncio.ensure_future(self._open_and_send(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def run(self) -> LoadResult:
        spec = self.spec
        sem = asyncio.Semaphore(64)

        async def warm() -> None:
            async with sem:
                with contextlib.suppress(OSError):
                    self.idle.append(await self._open())

        # A slow start only means fewer ready connections: the rest open on demand (and count in latency).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(warm() for _ in range(spec.prewarm))), timeout=30.0)
        start = time.monotonic() + 0.05
        if spec.handshake:
            _write_all(b"ready\n")
            # Blocking on purpose: nothing runs on the loop before the schedule starts.
            words = sys.stdin.readline().split()
            if len(words) != 2 or words[0] != "go":
                raise RuntimeError(f"expected 'go T' on stdin, got {words}")
            start = float(words[1])
        await asyncio.sleep(max(start - time.monotonic(), 0.0))
        self.t0 = start
        hard_deadline = start + spec.seconds + 2.0
        stopped_by = "count"
        tasks: set[asyncio.Task[None]] = set()
        cpu0 = time.process_time()
        rq0 = runqueue_wait_s([os.getpid()])
        for i, off in enumerate(self.offsets):
            delay = start + off - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > hard_deadline:
                stopped_by = "time"
                self.status[i:] = _STATUS_CAP
                break
            self._send(i, tasks)
        send_wall = time.monotonic() - start
        cpu = time.process_time() - cpu0
        self.all_sent = True
        if self.inflight > 0 or tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), timeout=spec.drain_s)
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(tasks):
            task.cancel()
        return LoadResult(
            t0=start,
            sched=self.offsets,
            sent=self.sent,
            done=self.done,
            status=self.status,
            cls=self.cls,
            cpu_s=cpu,
            rq_wait_s=runqueue_wait_s([os.getpid()]) - rq0,
            send_wall_s=send_wall,
            connections=self.opened,
            stopped_by=stopped_by,
        )


def run_spec(spec: LoadSpec) -> LoadResult:
    """Run one generator in this process (uvloop when installed)."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run

    async def go() -> LoadResult:
        return await _Generator(spec).run()

    # A collection pause would show up as send lag and latency that belongs to the client.
    gc.disable()
    try:
        result: LoadResult = runner(go())
    finally:
        gc.enable()
    return result


def main() -> int:
    spec = LoadSpec.from_json(sys.argv[1])
    _write_all(run_spec(spec).to_json().encode())
    return 0


def _write_all(data: bytes) -> None:
    """All of `data` to stdout, written on the raw fd, blocking, until every byte is out.

    A result once arrived cut at exactly 65536 bytes (one pipe buffer) through sys.stdout under
    PYTHONUNBUFFERED=1, where sys.stdout writes straight to the raw file.
    """
    fd = sys.stdout.fileno()
    os.set_blocking(fd, True)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
