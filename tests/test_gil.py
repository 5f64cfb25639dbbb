"""The core shared as CPython shares the GIL: the event loop keeps it across its callbacks.

The simulator encodes this in its instruction stream and hand-over order (sizing/_sim/_worker.py); the
model as non-preemptive priority for the loop with a request's CPU segments as one job for the threads
(sizing/_stages.py `_gil`). Both are checked here against tests/_gil.py, an independent event-by-event
simulation of one core where loop turns go first and each turn's thread burst queues behind the loop
turns waiting when it is dispatched. A FIFO core would give thread waits of about 5.7 ms (per visit) to
11 ms (per request) at the busier point below, against about 19.6 ms with the loop first.
"""

from __future__ import annotations

import pytest
from _gil import simulate_gil

from sizing import evaluate, simulate
from sizing.scenario import Deployment, Endpoint, Runtime, Scenario, Traffic

LOOP_MS = THREAD_MS = 2.0  # a `def` endpoint's cpu_ms of 4 splits evenly over its loop turn and its pass
IO_MS = 20.0


def _scenario(rps: float) -> Scenario:
    ep = Endpoint(name="s", share=1.0, handler="sync", cpu_ms=LOOP_MS + THREAD_MS, other_io_ms=IO_MS,
                  other_io_cv2=0.0)
    # Tokens never bind and the hand-off is 0: the core is the only queue besides the loop.
    return Scenario(traffic=Traffic(rps=rps), endpoints=[ep], deployment=Deployment(thread_tokens=1000),
                    runtime=Runtime(token_handoff_ms=0.0))


@pytest.mark.parametrize("rps", [150.0, 212.5])  # core utilization 0.6 and 0.85
def test_simulator_and_model_share_the_core_as_cpython_does(rps: float) -> None:
    ref = simulate_gil(rps, LOOP_MS, THREAD_MS, IO_MS, requests=200_000, warmup=20_000, seed=7)
    sim = simulate(_scenario(rps), requests=200_000, replications=4, seed=3)
    tokens = sim.stage("thread_tokens")
    loop = sim.stage("event_loop")
    assert tokens is not None and loop is not None
    thread_wait = tokens.hold_ms - THREAD_MS - IO_MS  # a pass holds its token through its wait for the core
    # Two independent runs of about 180k requests each: noise of a percent or two at utilization 0.85.
    assert sim.overall.mean_ms == pytest.approx(ref.latency_mean_ms, rel=0.03)
    assert loop.wait_mean_ms == pytest.approx(ref.loop_wait_mean_ms, rel=0.06)
    assert thread_wait == pytest.approx(ref.thread_wait_mean_ms, rel=0.08)
    model = evaluate(_scenario(rps))
    assert model.overall.mean_ms is not None
    assert model.overall.mean_ms == pytest.approx(ref.latency_mean_ms, rel=0.03)
    assert model.max_rps == pytest.approx(1000.0 / (LOOP_MS + THREAD_MS), rel=0.03)  # the core binds
