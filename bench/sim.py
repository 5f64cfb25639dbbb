"""Benchmark of the simulator: speed against ciw and accuracy against Erlang C on one M/M/c model.

Model: c = 40 servers, lambda = 380/s, mean service 0.1 s (utilization 0.95). Measured in one run:
1. `sizing.simulate_queue` on --requests customers (default 10^6, all replications, warm-up included);
2. ciw (a general-purpose Python DES, benchmark-only dependency) on --ciw-requests customers, its time per
   customer extrapolated linearly to --requests (ciw's cost per customer is flat in run length);
3. the ratio of the two, and the simulated mean wait against Erlang C with its 95% half-width over the
   replications: the control-variate estimate (fast single server, see sizing/_sim/_mmc_fast.py) and the
   plain mean of the replications;
4. how that accuracy holds up over --accuracy-runs independent repeats of the timed run (other seeds):
   RMS error, the share of runs within 1% of Erlang C, and how often the 95% interval covers it; the same
   for --budget-requests customers per run (default 3.4 x 10^6, what 1% in 95% of runs needs: the error's
   standard deviation scales as 1/sqrt(customers)), with their wall time; optionally one long run
   (--accuracy-requests, means only);
5. the full worker simulation (`sizing.simulate`) on a mixed sync/async scenario, in requests/second.

Usage: python bench/sim.py [--requests N] [--ciw-requests N] [--accuracy-runs N] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sizing import simulate, simulate_queue
from sizing._scenario import Scenario

C, LAM, SERVICE_S = 40, 380.0, 0.1


def erlang_c(c: int, a: float) -> float:
    """Probability of waiting in M/M/c with offered load a (terms in log space)."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    top = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    m = max([*logs, top])
    s = math.fsum(math.exp(x - m) for x in logs)
    return math.exp(top - m) / (s + math.exp(top - m))


def exact_mean_wait_ms() -> float:
    return erlang_c(C, LAM * SERVICE_S) / (C / SERVICE_S - LAM) * 1000.0


def time_ciw(customers: int, seed: int) -> tuple[float, float]:
    """Seconds for ciw to run `customers` arrivals of the same M/M/c, and its mean wait (ms)."""
    import ciw  # type: ignore[import-untyped]  # benchmark-only dependency

    net = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=LAM)],
        service_distributions=[ciw.dists.Exponential(rate=1.0 / SERVICE_S)],
        number_of_servers=[C],
    )
    ciw.seed(seed)
    sim = ciw.Simulation(net)
    t0 = time.perf_counter()
    sim.simulate_until_max_customers(customers, method="Finish")
    wall = time.perf_counter() - t0
    recs = sim.get_all_records()
    return wall, 1000.0 * math.fsum(r.waiting_time for r in recs) / len(recs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--replications", type=int, default=50)
    ap.add_argument("--ciw-requests", type=int, default=20_000)
    ap.add_argument("--accuracy-runs", type=int, default=40, help="repeats of the timed run; 0 skips them")
    ap.add_argument("--accuracy-requests", type=int, default=0, help="one long run of N customers; 0 skips")
    ap.add_argument("--budget-requests", type=int, default=3_400_000,
                    help="customers per run for the repeats at the 1 s budget; 0 skips")
    ap.add_argument("--accuracy-replications", type=int, default=1500)
    ap.add_argument("--worker-requests", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    exact = exact_mean_wait_ms()
    rho = LAM * SERVICE_S / C
    print(f"M/M/c: c={C}, lambda={LAM:g}/s, mean service {SERVICE_S:g} s, utilization {rho:.2f}")
    print(f"Erlang C: P(wait) {erlang_c(C, LAM * SERVICE_S):.6f}, mean wait {exact:.4f} ms")

    simulate_queue(LAM, SERVICE_S * 1000, C, requests=10_000, replications=10)  # first-call costs, untimed
    t0 = time.perf_counter()
    ours = simulate_queue(LAM, SERVICE_S * 1000, C, requests=a.requests, replications=a.replications,
                          seed=a.seed)
    ours_wall = time.perf_counter() - t0
    assert ours.wait_mean_ms is not None and ours.wait_mean_ci_ms is not None
    print(f"\nsizing.simulate_queue: {ours.requests:,} customers ({a.replications} replications in lock "
          f"step, 20% warm-up each) in {ours_wall:.3f} s wall = {ours_wall / ours.requests * 1e6:.3f} "
          "us/customer (timed after one small untimed call)")
    err = ours.wait_mean_ms / exact - 1.0
    print(f"  mean wait {ours.wait_mean_ms:.4f} ± {ours.wait_mean_ci_ms:.4f} ms (95% over replications, "
          f"{ours.variance_reduction}): error {err:+.2%}, CI ±{ours.wait_mean_ci_ms / exact:.2%}")
    assert ours.wait_mean_plain_ms is not None and ours.wait_mean_plain_ci_ms is not None
    print(f"  plain mean of the replications: {ours.wait_mean_plain_ms:.4f} ± {ours.wait_mean_plain_ci_ms:.4f} "
          f"ms: error {ours.wait_mean_plain_ms / exact - 1.0:+.2%}, CI ±{ours.wait_mean_plain_ci_ms / exact:.2%}")

    ciw_wall, ciw_wait = time_ciw(a.ciw_requests, a.seed)
    per = ciw_wall / a.ciw_requests
    print(f"\nciw: {a.ciw_requests:,} customers in {ciw_wall:.3f} s = {per * 1e6:.1f} us/customer "
          f"(mean wait {ciw_wait:.2f} ms, one short run from empty)")
    print(f"  extrapolated per customer to {ours.requests:,}: {per * ours.requests:.1f} s")
    print(f"ratio (ciw / ours, per customer): {per * ours.requests / ours_wall:.0f}x faster")

    if a.accuracy_runs > 0:
        errs, plain, covered, hws = [], [], 0, []
        t0 = time.perf_counter()
        for k in range(a.accuracy_runs):
            r = simulate_queue(LAM, SERVICE_S * 1000, C, requests=a.requests, replications=a.replications,
                               seed=a.seed + 1000 + k, quantiles=())
            assert r.wait_mean_ms is not None and r.wait_mean_ci_ms is not None
            assert r.wait_mean_plain_ms is not None
            errs.append(r.wait_mean_ms / exact - 1.0)
            plain.append(r.wait_mean_plain_ms / exact - 1.0)
            hws.append(r.wait_mean_ci_ms / exact)
            covered += abs(r.wait_mean_ms - exact) <= r.wait_mean_ci_ms
        n = len(errs)

        def rms(v: list[float]) -> float:
            return math.sqrt(math.fsum(x * x for x in v) / len(v))

        print(f"\n{n} independent repeats of the timed run (seeds {a.seed + 1000}..{a.seed + 999 + n}, "
              f"{time.perf_counter() - t0:.1f} s):")
        print(f"  control variate: RMS error {rms(errs):.2%}, mean error {math.fsum(errs) / n:+.2%}, "
              f"within 1% of Erlang C in {sum(abs(e) <= 0.01 for e in errs)}/{n}, worst {max(map(abs, errs)):.2%}, "
              f"mean 95% half-width ±{math.fsum(hws) / n:.2%}, interval covers Erlang C in {covered}/{n}")
        print(f"  plain mean:      RMS error {rms(plain):.2%}, within 1% in {sum(abs(e) <= 0.01 for e in plain)}/{n}")

        if a.budget_requests > 0:
            big, walls = [], []
            for k in range(a.accuracy_runs):
                t1 = time.perf_counter()
                r = simulate_queue(LAM, SERVICE_S * 1000, C, requests=a.budget_requests,
                                   replications=a.replications, seed=a.seed + 5000 + k, quantiles=())
                walls.append(time.perf_counter() - t1)
                assert r.wait_mean_ms is not None
                big.append(r.wait_mean_ms / exact - 1.0)
            walls.sort()
            print(f"{n} repeats of {a.budget_requests:,} customers (seeds {a.seed + 5000}..): RMS error {rms(big):.2%}, "
                  f"within 1% of Erlang C in {sum(abs(e) <= 0.01 for e in big)}/{n}, worst {max(map(abs, big)):.2%}; "
                  f"wall per run median {walls[len(walls) // 2]:.2f} s, max {walls[-1]:.2f} s")

    if a.accuracy_requests > 0:
        acc = simulate_queue(LAM, SERVICE_S * 1000, C, requests=a.accuracy_requests,
                             replications=a.accuracy_replications, seed=a.seed + 1, quantiles=())
        assert acc.wait_mean_ms is not None and acc.wait_mean_ci_ms is not None
        err = acc.wait_mean_ms / exact - 1.0
        print(f"\naccuracy run: {acc.requests:,} customers, {a.accuracy_replications} replications, "
              f"{acc.wall_seconds:.1f} s: mean wait {acc.wait_mean_ms:.4f} ± {acc.wait_mean_ci_ms:.4f} ms: "
              f"error {err:+.2%}, CI ±{acc.wait_mean_ci_ms / exact:.2%}; P(wait) {acc.p_wait:.5f} "
              f"± {acc.p_wait_ci:.5f}")

    s = Scenario.simple(rps=200, sync_fraction=0.5, upstream_latency_ms=80, db_pool_size=5)
    r = simulate(s, requests=a.worker_requests, replications=5, seed=a.seed)
    print(f"\nsizing.simulate (worker: 200 rps, half def / half async def, DB pool 5, one upstream call): "
          f"{r.requests:,} requests in {r.wall_seconds:.2f} s = {r.requests_per_second:,.0f} requests/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
