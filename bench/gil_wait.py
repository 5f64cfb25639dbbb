"""How long a thread waits for the GIL behind a busy uvloop loop (a lab measurement, not a test).

    python bench/gil_wait.py [--batch] [--seconds 12]

A uvloop loop runs Poisson arrivals of b ms of Python CPU (utilization rho_loop); a thread blocks in a
socket's recv, is woken at Poisson times (100/s) and then burns 0.2 ms. Two other processes send the
timestamped datagrams. The thread records how long after the send it runs Python again: the wake-up plus
its wait for the GIL. By default the loop's work runs inside the I/O callback (as httptools' parsing does);
with --batch it runs as a ready callback (as a task's step does). Printed next to what an M/G/1 core gives
the thread as the low class of a non-preemptive priority queue behind the loop, and in plain FIFO order.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import uvloop

SENDER = r"""
import random, socket, struct, sys, time
port, rate, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rng = random.Random(seed)
t = time.perf_counter()
while True:
    t += rng.expovariate(rate)
    d = t - time.perf_counter()
    if d > 0:
        time.sleep(d)
    s.sendto(struct.pack("d", t), ("127.0.0.1", port))
"""
THREAD_RATE = 100.0
THREAD_BURST_MS = 0.2


def burn(ms: float) -> None:
    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end:
        pass


class LoopLoad(asyncio.DatagramProtocol):
    def __init__(self, burst_ms: float, batch: bool) -> None:
        self.burst_ms, self.batch = burst_ms, batch

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.batch:
            asyncio.get_running_loop().call_soon(burn, self.burst_ms)
        else:
            burn(self.burst_ms)


def _thread(sock: socket.socket, out: list[float], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = sock.recv(64)
        except TimeoutError:
            continue
        (sent,) = struct.unpack("d", data)
        out.append(time.perf_counter() - sent)
        burn(THREAD_BURST_MS)


def _sender(port: int, rate: float, seed: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(rate), str(seed)])


async def measure(rho: float, burst_ms: float, seconds: float, batch: bool) -> list[float]:
    """The thread's wake-to-Python times (ms) with the loop busy `rho` in bursts of `burst_ms`."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: LoopLoad(burst_ms, batch), local_addr=("127.0.0.1", 0)
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    out: list[float] = []
    stop = threading.Event()
    worker = threading.Thread(target=_thread, args=(sock, out, stop), daemon=True)
    worker.start()
    senders = [_sender(sock.getsockname()[1], THREAD_RATE, 2)]
    if rho > 0:
        senders.append(_sender(transport.get_extra_info("sockname")[1], rho / (burst_ms / 1000.0), 1))
    try:
        await asyncio.sleep(seconds)
    finally:
        for proc in senders:
            proc.kill()
            proc.wait()
        stop.set()
        worker.join()
        transport.close()
        sock.close()
    return sorted(x * 1000.0 for x in out[20:])


def _formulas(rho: float, burst_ms: float) -> tuple[float, float]:
    """(priority, FIFO) mean wait of the thread on an M/D/1 core: loop bursts and the thread's own."""
    rt = THREAD_RATE * THREAD_BURST_MS / 1000.0
    w0 = rho * burst_ms / 2.0 + rt * THREAD_BURST_MS / 2.0
    return w0 / ((1.0 - rho) * (1.0 - rho - rt)), w0 / (1.0 - rho - rt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", action="store_true", help="the loop's work as ready callbacks")
    parser.add_argument("--seconds", type=float, default=12.0, help="per setting (default: %(default)s)")
    args = parser.parse_args()
    idle = 0.0
    for rho, burst in ((0.0, 1.0), (0.3, 1.0), (0.5, 1.0), (0.7, 1.0), (0.3, 3.0), (0.5, 3.0), (0.7, 3.0)):
        waits = uvloop.run(measure(rho, burst, args.seconds, args.batch))
        mean, p99 = statistics.mean(waits), waits[int(0.99 * len(waits))]
        if rho == 0:
            idle = mean
        prio, fifo = _formulas(rho, burst)
        print(f"loop {rho:.1f} in {burst:g} ms bursts{' (ready callbacks)' if args.batch else ''}: "
              f"wait {mean - idle:.2f} ms beyond the idle wake-up ({idle:.2f}), p99 {p99:.1f} (n={len(waits)}); "
              f"M/D/1 priority {prio:.2f}, FIFO {fifo:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
