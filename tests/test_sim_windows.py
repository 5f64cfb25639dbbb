"""What a finite run shows (`sizing.simulation.simulate_windows`), against the vectorised FIFO queue simulator.

A `def` endpoint whose pass is a constant 11.85 ms (tiny CPU, no hand-off) behind 2 tokens is an M/D/2
queue plus that constant: the worker engine's runs of 870 requests and the lock-step G/G/c simulator's runs of
the same length (independent code) must show the same spread of run p99s around the long-run p99 (exact,
Crommelin), and that spread is what made 8 s real-server points read low: median about 13% under.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_sim_queue import MDc

from sizing.scenario import Deployment, Endpoint, Runtime, Scenario, Traffic
from sizing.simulation import Sampler, arrival_sampler, queue_waits, simulate_windows

HOLD, RATE_PER_S, WINDOW, WARM = 11.85, 124.2, 870, 124


def test_run_p99s_match_the_queue_simulator_and_sit_under_the_long_run() -> None:
    cpu = 0.001
    ep = Endpoint(name="s", share=1.0, handler="sync", cpu_ms=cpu, other_io_ms=HOLD - cpu / 2, other_io_cv2=0.0)
    sc = Scenario(traffic=Traffic(rps=RATE_PER_S), endpoints=[ep], deployment=Deployment(thread_tokens=2),
                  runtime=Runtime(token_handoff_ms=0.0))
    means, p99s = simulate_windows(sc, WINDOW, WARM, runs=600, seed=5)
    lam = RATE_PER_S / 1000.0
    waits = queue_waits(arrival_sampler(1 / lam, 1.0), Sampler("constant", HOLD, 0.0), 2, customers=WARM + WINDOW,
                        warmup=WARM, replications=2000, seed=6)
    ref_p99 = np.quantile(waits.astype(float), 0.99, axis=0) + HOLD
    exact = MDc(lam, HOLD, 2)
    long_run = exact.quantile(0.99) + HOLD
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(p99s, q) == pytest.approx(np.quantile(ref_p99, q), rel=0.06), q
    assert np.median(p99s) < 0.95 * long_run  # a run this long usually misses the long excursions
    assert np.mean(means) == pytest.approx(exact.mean() + HOLD, rel=0.02)  # its mean is not biased


def test_windows_are_bounded_and_validated() -> None:
    ep = Endpoint(name="s", share=1.0, handler="async", cpu_ms=1.0)
    sc = Scenario(traffic=Traffic(rps=100.0), endpoints=[ep])
    means, p99s = simulate_windows(sc, 200, 20, runs=5, seed=1)
    assert len(means) == len(p99s) == 5 and np.all(p99s >= means)
    with pytest.raises(ValueError, match="window"):
        simulate_windows(sc, 10, 0)
    with pytest.raises(ValueError, match="runs"):
        simulate_windows(sc, 200, 0, runs=1)
