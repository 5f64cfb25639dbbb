"""The tutorial's session held across token passes, on a real uvicorn server (emulated backend): it stalls
where the model and the simulator say it will, and FastAPI's max_concurrency on the session dependency
removes the stall at the same load. (The real-PostgreSQL run is bench/session_stall.py.)"""

from __future__ import annotations

import pytest

import sizing
from sizing.model import max_rps, stall_time_s
from sizing.scenario import Scenario
from sizing.validation import validate

pytestmark = pytest.mark.server


def tutorial(rps: float, limit: int | None = None) -> Scenario:
    return Scenario.model_validate({
        "traffic": {"rps": rps},
        "endpoints": [{
            "name": "tutorial", "share": 1.0, "handler": "sync", "cpu_ms": 2.0, "db_hold_ms": 20.0,
            "sync_dependencies": 2, "response_model": True, "db_connection_scope": "request",
            "db_first_use_pass": 2,
        }],
        "deployment": {"thread_tokens": 4, "db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout_ms": 1000,
                       "db_session_max_concurrency": limit},
    })


def test_stall_on_a_real_server_and_the_fix() -> None:
    rps = 0.9 * max_rps(tutorial(10.0))[0]
    risky, fixed = tutorial(rps), tutorial(rps, limit=2)
    expected = stall_time_s(risky, rps)
    assert expected is not None and expected < 3.0  # the model: a stall within seconds
    sim = sizing.simulate(risky, requests=int(rps * 30) * 4, replications=4, warmup_fraction=0.0,
                          stop_at_stall=True)
    assert all(t is not None and t < 30.0 for t in sim.first_stall_s)
    assert stall_time_s(fixed, rps) is None and sizing.evaluate(fixed).stable

    stalled = validate(risky, f"{rps:.2f}rps", seconds=15.0, retries=0, ceiling=False).points[0].measured
    assert stalled.failures.get("db_pool_timeout", 0) >= 1, stalled.failures
    assert stalled.achieved_rps < 0.8 * stalled.offered_rps
    assert any(t[1] == 0 and t[3] >= 3.9 for t in stalled.timeline)  # a second with nothing done, tokens full
    db = stalled.pools["db_sync"]
    assert db["in_use_mean"] > 1.5 and db["waiting_mean"] > 1.0  # both connections out, checkouts waiting

    served = validate(fixed, f"{rps:.2f}rps", seconds=15.0, retries=0, ceiling=False).points[0].measured
    assert served.failures == {} and served.errors == 0
    assert served.achieved_rps == pytest.approx(served.offered_rps, rel=0.05)
