"""Benchmark of the queueing core (a script, not a test): python bench/core.py"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sizing.queueing import erlang_c, min_servers

N_POINTS = 10**6
TARGET_VECTOR_S = 0.3
TARGET_MIN_SERVERS_US = 50.0


def recursion_erlang_c(c: int, a: float) -> float:
    """The per-point peer method: Erlang B by the recursion B(k) = a B / (k + a B), O(c)."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a + a * b)


def linear_walk(a: float, max_p_wait: float) -> int:
    """Peer staffing: walk c = 1, 2, ... updating Erlang B incrementally (O(1) per step)."""
    b = 1.0
    c = 0
    while True:
        c += 1
        b = a * b / (c + a * b)
        if c > a and c * b / (c - a + a * b) <= max_p_wait:
            return c


def main() -> None:
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}")
    rng = np.random.default_rng(12345)
    c = rng.integers(1, 10**4 + 1, size=N_POINTS)
    a = c * rng.uniform(0.01, 0.999, size=N_POINTS)
    erlang_c(c[:1000], a[:1000])  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = erlang_c(c, a)
        times.append(time.perf_counter() - t0)
    t_vec = min(times)
    print(f"erlang_c, {N_POINTS:,} random points (c <= 10^4, utilisation 0.01-0.999): "
          f"{t_vec:.3f} s (best of 3; target <= {TARGET_VECTOR_S} s)  {t_vec / N_POINTS * 1e9:.0f} ns/point")

    sub = rng.choice(N_POINTS, size=2000, replace=False)
    t0 = time.perf_counter()
    ref = [recursion_erlang_c(int(c[i]), float(a[i])) for i in sub]
    t_rec = (time.perf_counter() - t0) / sub.size
    err = np.max(np.abs(np.array(ref) - out[sub]) / np.maximum(np.array(ref), 1e-300))
    print(f"per-point Erlang B recursion on a random subsample of {sub.size} points: {t_rec * 1e6:.1f} us/point, "
          f"extrapolated to {N_POINTS:,} points: {t_rec * N_POINTS:.1f} s; "
          f"ratio {t_rec * N_POINTS / t_vec:.0f}x (max rel. difference {err:.1e})")

    # The cost per point must not grow with c (no loop over servers): 20,000 points at c = 10 against c = 10^6.
    def best_of_5(servers: int) -> float:
        cs = np.full(20_000, servers)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter()
            erlang_c(cs, 0.9 * cs)
            runs.append(time.perf_counter() - t0)
        return min(runs)

    t_small, t_big = best_of_5(10), best_of_5(10**6)
    print(f"erlang_c, 20,000 points at utilisation 0.9: c = 10 {t_small * 1e3:.2f} ms, c = 10^6 "
          f"{t_big * 1e3:.2f} ms (best of 5); ratio {t_big / t_small:.2f}x (no growth with c)")

    print("min_servers(max_p_wait=0.2) vs a linear walk from c = 1 with the incremental Erlang B "
          "recursion (the fair peer method: O(1) per step):")
    for load in (1e3, 1e4):
        assert min_servers(load, 1.0, max_p_wait=0.2) == linear_walk(load, 0.2)
        reps = []
        for _ in range(2000):
            t0 = time.perf_counter()
            min_servers(load, 1.0, max_p_wait=0.2)
            reps.append(time.perf_counter() - t0)
        t_ms = statistics.median(reps)
        walks = []
        for _ in range(20):
            t0 = time.perf_counter()
            linear_walk(load, 0.2)
            walks.append(time.perf_counter() - t0)
        t_lw = statistics.median(walks)
        target = f"  (target <= {TARGET_MIN_SERVERS_US:.0f} us)" if load == 1e4 else ""
        print(f"  a = {load:>7,.0f}: c = {min_servers(load, 1.0, max_p_wait=0.2)}, "
              f"min_servers {t_ms * 1e6:.1f} us median{target}, linear walk {t_lw * 1e6:.0f} us median, "
              f"ratio {t_lw / t_ms:.0f}x")


if __name__ == "__main__":
    main()
