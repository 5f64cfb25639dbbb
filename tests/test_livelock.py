"""Past a saturated core: the receive-livelock finding's completion rate against the simulator, and the
bottleneck named for a core that saturates the tokens' holds."""

from __future__ import annotations

import re

import pytest

from sizing import evaluate
from sizing.model import livelock_rps
from sizing.scenario import Deployment, Endpoint, Runtime, Scenario, Traffic, request_phases
from sizing.simulation import simulate


def _mixed(rps: float, workers: int = 1) -> Scenario:
    # def: 1 ms on the loop, 1 ms in its thread; async def: 1.5 ms, all on the loop.
    return Scenario(
        traffic=Traffic(rps=rps),
        endpoints=[
            Endpoint(name="s", share=0.6, handler="sync", cpu_ms=2.0),
            Endpoint(name="a", share=0.4, handler="async", cpu_ms=1.5),
        ],
        deployment=Deployment(thread_tokens=100_000, workers_per_host=workers, cores_per_host=max(workers, 2)),
        runtime=Runtime(token_handoff_ms=0.0),
    )


def test_livelock_rate_is_what_the_loop_leaves_the_threads() -> None:
    """600 rps: the loop takes 0.6 x 1 + 0.4 x 1.5 = 1.2 ms per request, 0.72 of the core; the threads get
    0.28 and finish 280 def requests per second, the async ones all 240: 520 done of 600 offered, below the
    1000 / 1.8 = 556 the core completes at saturation. The simulator, which has no such formula, completes
    the same."""
    sc = _mixed(600.0)
    classes = [(600.0 * e.share, request_phases(e, sc.runtime)) for e in sc.endpoints]
    assert livelock_rps(classes) == pytest.approx(520.0, rel=1e-12)
    sim = simulate(sc, requests=60_000, replications=3, seed=9)
    assert sim.stable is False
    assert sim.throughput_rps == pytest.approx(520.0, rel=0.03)


def test_livelock_is_none_below_saturation_or_when_the_loop_alone_saturates() -> None:
    ep = request_phases(Endpoint(name="s", share=1.0, handler="sync", cpu_ms=2.0))
    assert livelock_rps([(400.0, ep)]) is None  # 0.8 of the core
    only_loop = request_phases(Endpoint(name="a", share=1.0, handler="async", cpu_ms=2.0))
    assert livelock_rps([(600.0, only_loop)]) is None  # no thread CPU: the loop is the bottleneck


def test_the_finding_gives_the_whole_service_rate() -> None:
    ev = evaluate(_mixed(1200.0, workers=2))
    found = [f for f in ev.findings if f.code == "receive_livelock"]
    assert len(found) == 1 and found[0].severity == "critical"
    done = re.search(r"completes about (\d+) rps", found[0].message)
    assert done is not None and int(done.group(1)) == 1040  # 2 workers x 520
    assert "--limit-concurrency" in found[0].message
    assert not [f for f in evaluate(_mixed(400.0)).findings if f.code == "receive_livelock"]


def test_a_saturated_core_is_named_the_bottleneck_not_the_tokens() -> None:
    """1000 tokens, 2 ms of CPU per def request: the core saturates at 500 rps per worker. The tokens' holds
    include the core's wait, which grows as 1 / (1 - rho), so they reach utilization 1 at 0.999 of the core;
    the fix is CPU, not more tokens."""
    sc = Scenario(
        traffic=Traffic(rps=100.0),
        endpoints=[Endpoint(name="s", share=1.0, handler="sync", cpu_ms=2.0)],
        deployment=Deployment(thread_tokens=1000),
    )
    ev = evaluate(sc)
    assert ev.max_rps == pytest.approx(500.0, rel=0.005)
    assert ev.bottleneck == "cpu"
    # Tokens that bind on their own hold stay the bottleneck: 4 tokens x 50 ms of I/O = 80 rps.
    io = sc.model_copy(update={
        "endpoints": [Endpoint(name="s", share=1.0, handler="sync", cpu_ms=0.5, other_io_ms=50.0, other_io_cv2=0.0)],
        "deployment": Deployment(thread_tokens=4),
    })
    ev = evaluate(io)
    assert ev.bottleneck == "thread_tokens" and ev.max_rps < 80.0
