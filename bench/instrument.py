"""The probe's overhead, against the same app uninstrumented and against prometheus-fastapi-instrumentator.

    python bench/instrument.py [--requests 20000] [--rounds 3]

One uvicorn worker (uvloop, httptools) per variant, each serving bench/overhead_app.py: a trivial `def`
route and a trivial `async def` route. For each route and variant, in one run: the server's CPU per request
(its /proc CPU clock over the requests, sent by 8 keep-alive connections in this process). Printed, the
median of `--rounds` rounds: CPU per request, the overhead against no instrumentation in microseconds,
and the saturation throughput a CPU-bound worker loses to it (1 - CPU without / CPU with). The client in
this process cannot saturate the server, so the completion rate it reached is printed for reference only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("none", "probe", "instrumentator")
CONNECTIONS = 8


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(base: str, path: str, n: int) -> float:
    """Send n requests over CONNECTIONS keep-alive connections; the seconds it took."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:
        left = [n]

        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                r = await client.get(f"{path}/{left[0]}")
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return time.perf_counter() - t0


def measure(variant: str, n: int) -> dict[str, tuple[float, float]]:
    """route -> (server CPU per request in microseconds, completions per second)."""
    port = _port()
    env = {**os.environ, "OVERHEAD_VARIANT": variant}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "overhead_app:app", "--app-dir", str(ROOT / "bench"), "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
        env=env, start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/async/0", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        out = {}
        for route in ("/sync", "/async"):
            asyncio.run(_drive(base, route, n // 10))  # warm up
            c0 = _cpu_s(proc.pid)
            seconds = asyncio.run(_drive(base, route, n))
            out[route] = ((_cpu_s(proc.pid) - c0) / n * 1e6, n / seconds)
        return out
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {v: {"/sync": [], "/async": []} for v in VARIANTS}
    for _ in range(args.rounds):
        for v in VARIANTS:
            for route, value in measure(v, args.requests).items():
                runs[v][route].append(value)
    for route in ("/sync", "/async"):
        base_cpu = statistics.median(c for c, _ in runs["none"][route])
        base_rps = statistics.median(r for _, r in runs["none"][route])
        for v in VARIANTS:
            cpu = statistics.median(c for c, _ in runs[v][route])
            rps = statistics.median(r for _, r in runs[v][route])
            print(f"{route:7} {v:15} CPU {cpu:6.1f} us/request, overhead {cpu - base_cpu:+6.1f} us, saturation "
                  f"throughput {100 * (base_cpu / cpu - 1):+5.1f}%; client reached {rps:5.0f}/s "
                  f"({100 * (rps / base_rps - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
