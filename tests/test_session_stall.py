"""A session that holds its DB connection across token passes: the scenario, the lifecycle, the simulator's
stall and the model's risk, each against a value computed here.

References:
* The connection's hold and the latency at light load, with constant step times: the sums of the steps in
  the FastAPI tutorial's order (get_db, a current-user dependency that queries, the body that queries
  again, response validation, and the generator's exit after the response), written out by hand below.
* The stall burst: an idle worker given c + P requests at once stalls; c + P - 1 do not (simulated).
* The time to the first stall: the birth-death chain `stall_time_s` describes, solved here as a linear
  system for the expected hitting times (numpy), against the model's sum; and the simulator's measured
  times against the model's, within the band bench/stall.py published.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import sizing
from sizing.model import max_rps, solve_worker, stall_burst, stall_rps, stall_time_s
from sizing.scenario import Endpoint, Scenario, request_phases

CPU_MS, DB_MS, HANDOFF_MS = 4.0, 10.0, 0.4


def tutorial(rps: float, *, tokens: int = 40, pool: int = 5, overflow: int = 10, scope: str = "request",
             cv2: float = 1.0, first_use: int = 2, timeout_ms: float = 30_000.0) -> Scenario:
    return Scenario.model_validate({
        "traffic": {"rps": rps},
        "endpoints": [{
            "name": "crud", "share": 1.0, "handler": "sync", "cpu_ms": CPU_MS, "db_hold_ms": DB_MS,
            "db_hold_cv2": cv2, "sync_dependencies": 2, "response_model": True, "db_connection_scope": scope,
            "db_first_use_pass": first_use if scope == "request" else 1,
        }],
        "deployment": {"thread_tokens": tokens, "db_pool_size": pool, "db_max_overflow": overflow,
                       "db_pool_timeout_ms": timeout_ms},
    })


def endpoint(**kw: Any) -> dict[str, Any]:
    return {"name": "e", "share": 1.0, "handler": "sync", "db_hold_ms": 5.0, **kw}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"db_first_use_pass": 2}, ["db_first_use_pass", "2", "'pass'"]),
        ({"handler": "async", "db_connection_scope": "request"}, ["db_connection_scope", "async", "'pass'"]),
        ({"db_connection_scope": "request", "db_first_use_pass": 3, "sync_dependencies": 1},
         ["db_first_use_pass", "between 1 and", "2 token pass", "got 3"]),
        ({"db_connection_scope": "request", "db_hold_ms": 0.0, "sync_dependencies": 1},
         ["db_connection_scope", "db_hold_ms 0"]),
        ({"db_connection_scope": "request"}, ["sync_dependencies", "get_db", "at least 1"]),
        ({"db_connection_scope": "session"}, ["db_connection_scope", "'pass' or 'request'"]),
        ({"db_first_use_pass": 0}, ["db_first_use_pass", "greater than or equal to 1"]),
    ],
)
def test_bad_scope_inputs_name_the_field_and_the_fix(fields: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ValidationError) as err:
        Endpoint.model_validate(endpoint(**fields))
    text = str(err.value)
    for w in words:
        assert w in text, (w, text)


def test_phases_follow_the_tutorial() -> None:
    phases = request_phases(tutorial(1.0).endpoints[0])
    assert [p.holds for p in phases] == ["loop", "token", "token", "token", "token", "exit"]
    db = [(i, s) for i, p in enumerate(phases) for s in p.steps if s.kind == "db"]
    # The queries: the current-user dependency (pass 2, opening the connection) and the body (pass 3).
    assert [(i, s.connection) for i, s in db] == [(2, "open"), (3, "keep")]
    assert math.fsum(s.hold_ms for _, s in db) == pytest.approx(DB_MS)
    cpu = math.fsum(s.mean_ms for p in phases for s in p.steps if s.kind == "cpu")
    assert cpu == pytest.approx(CPU_MS)


def test_validation_pass_as_first_use_carries_all_the_query_time() -> None:
    phases = request_phases(tutorial(1.0, first_use=4).endpoints[0])
    db = [(i, s) for i, p in enumerate(phases) for s in p.steps if s.kind == "db"]
    assert [(i, s.connection, s.mean_ms) for i, s in db] == [(4, "open", DB_MS)]


# At no load, with constant times: six equal CPU shares (the loop turn, four passes, the exit).
SHARE = CPU_MS / 6
# From the checkout (after pass 2's CPU) to the end of the exit: the rest of pass 2, passes 3 and 4, the exit.
HOLD_MS = (DB_MS / 2 + HANDOFF_MS) + (SHARE + DB_MS / 2 + HANDOFF_MS) + (SHARE + HANDOFF_MS) + (SHARE + HANDOFF_MS)
# The response goes out at the end of pass 4: the exit is not in the latency.
LATENCY_MS = SHARE + (SHARE + HANDOFF_MS) + (SHARE + DB_MS / 2 + HANDOFF_MS) * 2 + (SHARE + HANDOFF_MS)


def test_light_load_hold_and_latency_match_the_hand_sum() -> None:
    s = tutorial(0.5, cv2=0.0)
    sim = sizing.simulate(s, requests=2000, replications=2, seed=1)
    db = sim.stage("db_pool")
    assert db is not None
    assert db.hold_ms == pytest.approx(HOLD_MS, rel=1e-3)
    assert sim.overall.mean_ms == pytest.approx(LATENCY_MS, rel=1e-3)
    ev = sizing.evaluate(s)
    ev_db = ev.stage("db_pool")
    assert ev_db is not None
    assert ev_db.hold_ms == pytest.approx(HOLD_MS, rel=1e-3)
    assert ev.overall.mean_ms == pytest.approx(LATENCY_MS, rel=2e-3)


@pytest.mark.parametrize("rps", [150.0, 185.0])
def test_hold_grows_with_the_token_waits_as_simulated(rps: float) -> None:
    """The model's fixed point against the simulator's measured hold (pool large enough never to wait)."""
    s = tutorial(rps, pool=40, overflow=0)
    ev_db = sizing.evaluate(s).stage("db_pool")
    sim_db = sizing.simulate(s, requests=120_000, replications=3, seed=2).stage("db_pool")
    assert ev_db is not None and sim_db is not None
    assert ev_db.hold_ms > HOLD_MS + 0.5  # the waits inside the hold are not nothing at this load
    assert ev_db.hold_ms == pytest.approx(sim_db.hold_ms, rel=0.10)


@pytest.mark.parametrize(("tokens", "pool", "overflow"), [(40, 5, 10), (8, 5, 0), (16, 4, 0)])
def test_a_burst_of_tokens_plus_connections_stalls_an_idle_worker(tokens: int, pool: int, overflow: int) -> None:
    s = tutorial(0.5, tokens=tokens, pool=pool, overflow=overflow)
    burst = stall_burst(s)
    assert burst == tokens + pool + overflow
    stalled = sizing.simulate(s, requests=400, replications=2, burst=burst, warmup_fraction=0.0, stop_at_stall=True)
    assert stalled.stalls == 2 and all(t is not None and t < 1.0 for t in stalled.first_stall_s)
    fine = sizing.simulate(s, requests=400, replications=2, burst=burst - 1, warmup_fraction=0.0)
    assert fine.stalls == 0 and fine.pool_timeout_fraction == 0.0


def test_session_per_pass_cannot_stall() -> None:
    s = tutorial(150.0, tokens=8, pool=5, overflow=0, scope="pass")
    assert stall_burst(s) is None and stall_time_s(s, 150.0) is None
    assert stall_rps(s, saturation_rps=max_rps(s)[0]) is None
    ev = sizing.evaluate(s)
    assert ev.stall_rps is None and ev.stall_burst is None
    sim = sizing.simulate(s, requests=300 * 150, replications=1, burst=100, warmup_fraction=0.0)
    assert sim.stalls == 0 and sim.pool_timeout_fraction == 0.0


def test_checkout_in_the_last_pass_cannot_stall() -> None:
    s = tutorial(150.0, tokens=8, pool=5, overflow=0, first_use=4)
    assert stall_burst(s) is None
    sim = sizing.simulate(s, requests=300 * 150, replications=1, burst=100, warmup_fraction=0.0)
    assert sim.stalls == 0


def test_stall_fails_requests_at_the_pool_timeout() -> None:
    """A stall holds until the checkouts time out; then they fail (500s), counted apart from the latency."""
    s = tutorial(120.0, tokens=8, pool=5, overflow=0, timeout_ms=2000.0)
    sim = sizing.simulate(s, requests=24_000, replications=1, burst=13, warmup_fraction=0.0)
    assert sim.stalls >= 1 and sim.pool_timeout_fraction > 0.0
    assert sim.first_stall_s[0] is not None and sim.first_stall_s[0] < 0.1


def _hitting_time_s(s: Scenario, rps: float) -> float:
    """The chain of the model's docstring, solved as a linear system: T_n = 1 / (l + m_n) + l / (l + m_n)
    T_(n+1) + m_n / (l + m_n) T_(n-1), T_K = 0; the answer is T_0."""
    dep = s.deployment
    sol = solve_worker(s, rps)
    lam = sol.rps_per_worker / 1000.0
    busiest = max(sol.stages[n].utilization for n in ("cpu", "event_loop", "db_pool", "http_pool"))
    e = s.endpoints[0]
    bare = sum(p.hold_ms for p in request_phases(e, s.runtime))
    k = dep.thread_tokens + dep.db_connections_per_worker
    a = np.zeros((k, k))
    b = np.zeros(k)
    for n in range(k):
        mu = min(n / bare, lam / busiest)
        rate = lam + mu
        a[n, n] = 1.0
        if n + 1 < k:
            a[n, n + 1] = -lam / rate
        if n > 0:
            a[n, n - 1] = -mu / rate
        b[n] = 1.0 / rate
    return float(np.linalg.solve(a, b)[0]) / 1000.0


@pytest.mark.parametrize(("tokens", "pool", "fraction"), [(8, 5, 0.7), (8, 5, 0.9), (16, 4, 0.8)])
def test_time_to_stall_is_the_chains_hitting_time(tokens: int, pool: int, fraction: float) -> None:
    base = tutorial(100.0, tokens=tokens, pool=pool, overflow=0)
    rps = max_rps(base)[0] * fraction
    s = tutorial(rps, tokens=tokens, pool=pool, overflow=0)
    assert stall_time_s(s, rps) == pytest.approx(_hitting_time_s(s, rps), rel=1e-6)


@pytest.mark.parametrize("fraction", [0.8, 0.9])
def test_time_to_stall_agrees_with_the_simulator(fraction: float) -> None:
    """Within the band bench/stall.py measured over four deployments (0.13 to 1.7, and 0.16 to 2.2 in an
    earlier run), at two points that stall within seconds: 0.15 to 2.5 times the simulated time."""
    base = tutorial(100.0, tokens=8, pool=5, overflow=0)
    rps = max_rps(base)[0] * fraction
    s = tutorial(rps, tokens=8, pool=5, overflow=0)
    reps, per_rep = 12, int(rps * 300)
    sim = sizing.simulate(s, requests=reps * per_rep, replications=reps, seed=5, warmup_fraction=0.0,
                          stop_at_stall=True)
    times = [t for t in sim.first_stall_s if t is not None]
    assert len(times) >= reps - 1
    exposure = sum(times) + (reps - len(times)) * per_rep / rps
    simulated = exposure / len(times)
    model = stall_time_s(s, rps)
    assert model is not None
    assert 0.15 * simulated <= model <= 2.5 * simulated, (model, simulated)


def test_evaluate_reports_the_risk_and_the_finding_names_the_fix() -> None:
    s = tutorial(150.0, tokens=8, pool=5, overflow=0)
    ev = sizing.evaluate(s)
    assert ev.stall_burst == 13
    assert ev.stall_rps is not None and 0.0 < ev.stall_rps < ev.max_rps
    t = stall_time_s(s, ev.stall_rps)
    assert t is not None and t == pytest.approx(86_400.0, rel=0.02)
    found = [f for f in ev.findings if f.code == "pool_token_deadlock"]
    assert len(found) == 1 and found[0].severity == "critical"
    assert "max_concurrency" in found[0].message and "async def" in found[0].message
    # The JSON never carries inf or NaN.
    assert "Infinity" not in ev.model_dump_json() and "NaN" not in ev.model_dump_json()


def test_fleet_horizon_scales_with_workers() -> None:
    one = tutorial(60.0, tokens=8, pool=5, overflow=0)
    many = one.model_copy(update={"deployment": one.deployment.model_copy(update={"hosts": 10})})
    top = max_rps(one)[0]
    r1 = stall_rps(one, saturation_rps=top)
    r10 = stall_rps(many, saturation_rps=top * 10)
    assert r1 is not None and r10 is not None
    # Ten workers: each must go ten days between stalls, so each takes less than a tenth of r1.
    assert r10 / 10 < r1
    t = stall_time_s(many, r10)
    assert t is not None and t == pytest.approx(86_400.0 * 10, rel=0.02)


def test_fastapi_max_concurrency_rules_the_stall_out() -> None:
    """One session slot per connection: the model says it cannot stall, and the simulator agrees at a load and
    a burst that stall the same deployment without it."""
    risky = tutorial(150.0, tokens=8, pool=5, overflow=0)
    fixed = risky.model_copy(update={"deployment": risky.deployment.model_copy(
        update={"db_session_max_concurrency": 5})})
    assert stall_burst(fixed) is None and stall_time_s(fixed, 150.0) is None
    ev = sizing.evaluate(fixed)
    assert ev.stall_rps is None and not [f for f in ev.findings if f.code == "pool_token_deadlock"]
    before = sizing.simulate(risky, requests=150 * 300, replications=1, warmup_fraction=0.0, stop_at_stall=True)
    assert before.stalls == 1
    after = sizing.simulate(fixed, requests=150 * 600, replications=1, warmup_fraction=0.0, burst=200)
    assert after.stalls == 0 and after.pool_timeout_fraction == 0.0
    db = after.stage("db_pool")
    assert db is not None and db.wait_mean_ms == 0.0  # no checkout ever waits


def test_session_slots_add_their_wait_to_the_latency() -> None:
    """At a load where the slots queue, the model's latency with the limit against the simulator's."""
    s = tutorial(150.0, tokens=8, pool=5, overflow=0)
    fixed = s.model_copy(update={"deployment": s.deployment.model_copy(update={"db_session_max_concurrency": 5})})
    ev = sizing.evaluate(fixed)
    sim = sizing.simulate(fixed, requests=150_000, replications=3, seed=4)
    assert ev.overall.mean_ms is not None and sim.overall.mean_ms is not None
    assert ev.overall.mean_ms == pytest.approx(sim.overall.mean_ms, rel=0.10)
    assert ev.overall.p99_ms == pytest.approx(sim.overall.p99_ms, rel=0.20)


def test_one_slot_more_than_connections_can_still_stall() -> None:
    s = tutorial(150.0, tokens=8, pool=5, overflow=0)
    loose = s.model_copy(update={"deployment": s.deployment.model_copy(update={"db_session_max_concurrency": 6})})
    assert stall_burst(loose) == 13


def test_recommend_fixes_the_stall_and_says_so() -> None:
    s = tutorial(150.0)
    rec = sizing.recommend(s)
    assert rec.feasible and rec.evaluation is not None
    by_name = {x.name: x for x in rec.settings}
    limit = by_name["db_session_max_concurrency"].value
    dep = rec.deployment_for(s)
    assert dep is not None and dep.db_session_max_concurrency == limit
    assert limit == by_name["db_pool_size"].value + by_name["db_max_overflow"].value
    assert "max_concurrency" in by_name["db_session_max_concurrency"].reason
    assert rec.evaluation.stall_rps is None
    assert f"max_concurrency={limit}" in rec.snippets["sqlalchemy_session"]
    compile(rec.snippets["sqlalchemy_session"], "<snippet>", "exec")
    # The same deployment without the fix would stall below the headroom the targets ask for.
    unfixed = s.model_copy(update={"deployment": s.deployment.model_copy(update={
        "thread_tokens": by_name["thread_tokens"].value, "db_pool_size": by_name["db_pool_size"].value,
        "db_max_overflow": 0})})
    ev = sizing.evaluate(unfixed)
    assert ev.stall_rps is not None and ev.stall_rps < 150.0 * s.targets.min_headroom


def test_latency_chart_marks_stall_rps() -> None:
    from sizing.figures import latency_curve_figure

    s = tutorial(150.0, tokens=8, pool=5, overflow=0)
    ev = sizing.evaluate(s)
    fig = latency_curve_figure(s, points=6)
    stalls = [t for t in fig.data if (t.meta or {}).get("kind") == "stall"]
    assert len(stalls) == 1
    assert stalls[0].x[0] == pytest.approx(ev.stall_rps, rel=1e-9)
    safe = latency_curve_figure(tutorial(150.0, scope="pass"), points=6)
    assert not [t for t in safe.data if (t.meta or {}).get("kind") == "stall"]


def test_admission_at_the_pool_size_prevents_the_stall_by_shedding() -> None:
    """uvicorn's --limit-concurrency as the simulator's admission limit (it counts requests; the real one
    counts connections, idle keep-alive ones included, so it bounds requests at most as tightly): at most P
    requests in the worker cannot stall it, at the price of 503s; a limit above c + P does not help."""
    s = tutorial(150.0, tokens=8, pool=5, overflow=0)
    capped = sizing.simulate(s, requests=150 * 600, replications=1, warmup_fraction=0.0, admission_limit=5)
    assert capped.stalls == 0 and capped.pool_timeout_fraction == 0.0 and capped.shed_fraction > 0.0
    loose = sizing.simulate(s, requests=150 * 600, replications=1, warmup_fraction=0.0, admission_limit=14,
                            stop_at_stall=True)
    assert loose.stalls == 1
