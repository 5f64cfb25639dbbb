"""The deployment model against numbers computed independently here (mpmath Erlang C, closed forms)."""

from __future__ import annotations

import math

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing import Deployment, Endpoint, Runtime, Scenario, Targets, Traffic, evaluate, preset
from sizing.model import latency_at
from sizing.scenario import PRESETS


def _erlang_c(c: int, a: float) -> float:
    mpmath.mp.dps = 40
    b = mpmath.mpf(1)
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    rho = mpmath.mpf(a) / c
    return float(b / (1 - rho * (1 - b)))


def _blocking_def(rps: float, tokens: int, cv2: float, *, cpu_ms: float = 1e-6, workers: int = 1) -> Scenario:
    """One `def` endpoint that sleeps 50 ms: the token stage is M/M/c (cv2 = 1) or M/D/c (cv2 = 0)."""
    return Scenario(
        traffic=Traffic(rps=rps),
        endpoints=[
            Endpoint(
                name="sleep", share=1.0, handler="sync", cpu_ms=cpu_ms, other_io_ms=50.0, other_io_cv2=cv2
            )
        ],
        deployment=Deployment(
            thread_tokens=tokens,
            workers_per_host=workers,
            cores_per_host=max(workers, 1),
            db_pool_size=0,
            db_max_overflow=0,
        ),
        targets=Targets(latency_p99_ms=200.0, max_pool_wait_p99_ms=1000.0),
        runtime=Runtime(token_handoff_ms=0.0),
    )


@pytest.mark.parametrize(("tokens", "util"), [(4, 0.5), (4, 0.8), (8, 0.8), (40, 0.9)])
def test_token_stage_is_erlang_c_for_exponential_holds(tokens: int, util: float) -> None:
    hold_s = 0.050
    lam = util * tokens / hold_s
    ev = evaluate(_blocking_def(lam, tokens, 1.0))
    st_ = ev.stage("thread_tokens")
    assert st_ is not None
    c = _erlang_c(tokens, lam * hold_s)
    theta = tokens / hold_s - lam  # per second
    assert st_.utilization == pytest.approx(util, rel=1e-6)
    assert st_.p_wait == pytest.approx(c, rel=1e-5)
    assert st_.wait_mean_ms == pytest.approx(1000 * c / theta, rel=1e-5)
    assert st_.wait_p99_ms == pytest.approx(1000 * max(math.log(c / 0.01), 0) / theta, rel=1e-5)


@pytest.mark.parametrize(("tokens", "util"), [(4, 0.5), (4, 0.8), (8, 0.8), (40, 0.8)])
def test_constant_sleep_is_md_c_with_cosmetatos_and_exact_composition(tokens: int, util: float) -> None:
    hold_s = 0.050
    lam = util * tokens / hold_s
    ev = evaluate(_blocking_def(lam, tokens, 0.0))
    st_ = ev.stage("thread_tokens")
    assert st_ is not None and st_.wait_mean_ms is not None and st_.wait_p99_ms is not None
    c = _erlang_c(tokens, lam * hold_s)
    wq_mmc = c * hold_s / (tokens * (1 - util))
    gamma = min(0.24, (1 - util) * (tokens - 1) * (math.sqrt(4 + 5 * tokens) - 2) / (16 * tokens * util))
    assert st_.wait_mean_ms == pytest.approx(1000 * 0.5 * (1 + gamma) * wq_mmc, rel=1e-3)
    # End to end = 50 ms constant + the token wait (+ a negligible CPU piece): mean and p99 compose exactly.
    overall = ev.overall
    assert overall.mean_ms == pytest.approx(50.0 + st_.wait_mean_ms, rel=1e-4)
    assert overall.p99_ms == pytest.approx(50.0 + st_.wait_p99_ms, rel=2e-3)


def test_max_rps_is_tokens_over_hold_and_names_the_stage() -> None:
    ev = evaluate(_blocking_def(10, 4, 0.0, workers=2))
    assert ev.max_rps == pytest.approx(2 * 4 / 0.050, rel=1e-5)
    assert ev.bottleneck == "thread_tokens"
    assert ev.headroom == pytest.approx(ev.max_rps / 10, rel=1e-12)


def test_cpu_bound_service_saturates_at_one_core_per_worker() -> None:
    s = Scenario(
        traffic=Traffic(rps=100),
        endpoints=[Endpoint(name="hash", share=1, handler="async", cpu_ms=4.0)],
        deployment=Deployment(workers_per_host=2, cores_per_host=2),
    )
    ev = evaluate(s)
    assert ev.max_rps == pytest.approx(2 * 1000 / 4.0, rel=1e-6)
    assert ev.bottleneck in ("cpu", "event_loop")
    assert ev.cpu_utilization_worker == pytest.approx(50 * 0.004, rel=1e-12)


def test_blocking_in_async_makes_the_loop_a_single_server() -> None:
    s = Scenario(
        traffic=Traffic(rps=50),
        endpoints=[Endpoint(name="bad", share=1, handler="async", cpu_ms=1.0, blocking_in_async_ms=10.0)],
        deployment=Deployment(workers_per_host=1),
    )
    ev = evaluate(s)
    loop = ev.stage("event_loop")
    assert loop is not None
    assert loop.utilization == pytest.approx(50 * 0.011, rel=1e-9)
    assert ev.max_rps == pytest.approx(1000 / 11.0, rel=1e-6)
    assert ev.bottleneck == "event_loop"
    # M/D/1 (Poisson arrivals, constant 11 ms): Pollaczek-Khinchine mean wait rho*S/(2(1-rho)).
    rho = 50 * 0.011
    assert loop.wait_mean_ms == pytest.approx(rho * 11.0 / (2 * (1 - rho)), rel=1e-3)
    assert "event_loop_blocked" in {f.code for f in ev.findings}


def test_nested_db_holding_tokens_within_pool_never_wait() -> None:
    ep = Endpoint(name="crud", share=1, handler="sync", cpu_ms=0.5, db_hold_ms=20, db_hold_cv2=1.0)
    small = Scenario(
        traffic=Traffic(rps=150),
        endpoints=[ep],
        deployment=Deployment(thread_tokens=5, db_pool_size=5, db_max_overflow=0),
    )
    db = evaluate(small).stage("db_pool")
    assert db is not None and db.p_wait == 0.0 and db.wait_mean_ms == 0.0
    big = small.model_copy(
        update={"deployment": Deployment(thread_tokens=40, db_pool_size=4, db_max_overflow=0)}
    )
    ev = evaluate(big)
    db, tok = ev.stage("db_pool"), ev.stage("thread_tokens")
    assert db is not None and tok is not None and db.wait_mean_ms is not None
    assert db.p_wait == pytest.approx(_erlang_c(4, 150 * 0.020), rel=1e-5)
    # A token is held for the CPU piece, the wait for a connection and the connection's use, plus the hand-off.
    assert tok.hold_ms == pytest.approx(0.25 + 20 + db.wait_mean_ms + 0.4, rel=1e-3)
    assert "threads_beyond_db_pool" in {f.code for f in ev.findings}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_littles_law_holds_in_every_stage(name: str) -> None:
    ev = evaluate(preset(name))
    for s in ev.stages:
        assert s.utilization * s.servers == pytest.approx(s.arrival_rps * s.hold_ms / 1000.0, rel=1e-12)
    classes = ev.latency[:-1]
    assert ev.overall.mean_ms == pytest.approx(math.fsum(c.share * c.mean_ms for c in classes), rel=1e-12)
    for c in ev.latency:
        assert c.p50_ms <= c.p95_ms <= c.p99_ms


def test_unstable_is_reported_not_nan() -> None:
    ev = evaluate(_blocking_def(200, 4, 0.0))  # 200 rps x 50 ms = 10 tokens busy out of 4
    assert not ev.stable
    assert ev.overall.p99_ms is None and ev.overall.mean_ms is None
    tok = ev.stage("thread_tokens")
    assert tok is not None and tok.wait_mean_ms is None and tok.utilization == pytest.approx(2.5, rel=1e-6)
    codes = {f.code for f in ev.findings}
    assert "unstable_stage" in codes
    assert ev.headroom < 1
    assert "NaN" not in ev.model_dump_json() and "Infinity" not in ev.model_dump_json()


def test_slo_rps_is_where_p99_crosses_the_target() -> None:
    s = _blocking_def(100, 8, 0.0)
    ev = evaluate(s)
    assert ev.slo_rps is not None
    assert latency_at(s, ev.slo_rps * 0.999).p99_ms <= s.targets.latency_p99_ms
    assert latency_at(s, ev.slo_rps * 1.002).p99_ms > s.targets.latency_p99_ms


@settings(max_examples=40, deadline=None)
@given(tokens=st.integers(2, 60), util=st.floats(0.05, 0.95), cv2=st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_more_tokens_never_raise_the_wait(tokens: int, util: float, cv2: float) -> None:
    lam = util * tokens / 0.05
    a = evaluate(_blocking_def(lam, tokens, cv2))
    b = evaluate(_blocking_def(lam, tokens + 1, cv2))
    ta, tb = a.stage("thread_tokens"), b.stage("thread_tokens")
    assert ta is not None and tb is not None
    assert tb.wait_mean_ms <= ta.wait_mean_ms + 1e-12
    assert tb.wait_p99_ms <= ta.wait_p99_ms + 1e-9
    # End to end the p99 comes from a numerical convolution, monotone to its resolution (~1e-5 relative).
    assert b.overall.p99_ms <= a.overall.p99_ms * (1 + 1e-5)
    assert b.max_rps >= a.max_rps


def test_findings_name_the_problems() -> None:
    s = Scenario(
        traffic=Traffic(rps=900),
        endpoints=[
            Endpoint(
                name="crud",
                share=1,
                handler="sync",
                cpu_ms=0.5,
                db_hold_ms=30,
                upstream_calls=1,
                upstream_latency_ms=40,
            )
        ],
        deployment=Deployment(
            hosts=4,
            cores_per_host=2,
            workers_per_host=4,
            thread_tokens=40,
            db_pool_size=5,
            db_max_overflow=10,
            http_max_connections=4,
            db_max_connections=100,
        ),
    )
    codes = {f.code for f in evaluate(s).findings}
    assert {
        "fleet_db_over_budget",
        "workers_exceed_cores",
        "threads_beyond_db_pool",
        "http_pool_exhaustion",
    } <= codes
    healthy = evaluate(preset("sync SQLAlchemy CRUD").model_copy(update={"traffic": Traffic(rps=20)}))
    assert not [f for f in healthy.findings if f.severity == "critical"]


def test_default_tokens_saturating_and_gil_bound() -> None:
    s = Scenario(
        traffic=Traffic(rps=700),
        endpoints=[Endpoint(name="slow", share=1, handler="sync", cpu_ms=1.2, other_io_ms=60)],
        deployment=Deployment(thread_tokens=40),
    )
    codes = {f.code for f in evaluate(s).findings}
    assert {"default_tokens_saturate", "gil_bound_worker", "unstable_stage"} <= codes


def test_bad_inputs_are_value_errors_naming_the_field() -> None:
    ep = Endpoint(name="db", share=1, handler="sync", db_hold_ms=5)
    s = Scenario(
        traffic=Traffic(rps=5), endpoints=[ep], deployment=Deployment(db_pool_size=0, db_max_overflow=0)
    )
    with pytest.raises(ValueError, match="db_pool_size"):
        evaluate(s)
    with pytest.raises(ValueError, match=r"'rps' must be a finite number > 0 \(got nan\)"):
        evaluate(preset(), rps=float("nan"))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_coarse_latency_for_charts_is_within_half_a_percent(name: str) -> None:
    s = preset(name)
    for f in (0.3, 0.7, 0.95):
        rate = f * evaluate(s).max_rps
        fine, coarse = latency_at(s, rate), latency_at(s, rate, coarse=True)
        assert coarse.mean_ms == pytest.approx(fine.mean_ms, rel=1e-12)  # the mean is exact either way
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            assert getattr(coarse, q) == pytest.approx(getattr(fine, q), rel=5e-3), (q, f)
