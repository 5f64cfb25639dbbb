"""The scenario format: validation messages, the short form, JSON round trips, the lognormal p99 fit."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from sizing import Deployment, Endpoint, Scenario, Targets, Traffic, preset
from sizing.scenario import PRESETS, lognormal_cv2_from_p99


def _one(**kw: object) -> Scenario:
    ep = {"name": "a", "share": 1.0, "handler": "sync", **kw}
    return Scenario.model_validate({"traffic": {"rps": 10}, "endpoints": [ep]})


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        ({"traffic": {"rps": -1}}, "traffic.rps", "-1"),
        ({"traffic": {"rps": 10, "peak_factor": 0.5}}, "traffic.peak_factor", "0.5"),
        ({"endpoints": [{"name": "a", "share": 1.5, "handler": "sync"}]}, "endpoints.0.share", "1.5"),
        (
            {"endpoints": [{"name": "a", "share": 1, "handler": "threaded"}]},
            "endpoints.0.handler",
            "threaded",
        ),
        (
            {"endpoints": [{"name": "a", "share": 1, "handler": "sync", "cpu_ms": "nan"}]},
            "endpoints.0.cpu_ms",
            "nan",
        ),
        ({"deployment": {"thread_tokens": 0}}, "deployment.thread_tokens", "0"),
        ({"targets": {"max_cpu_utilization": 1.5}}, "targets.max_cpu_utilization", "1.5"),
        ({"targets": {"min_headroom": 0.9}}, "targets.min_headroom", "0.9"),
    ],
)
def test_invalid_values_name_field_value_and_range(data: dict[str, object], field: str, value: str) -> None:
    base: dict[str, object] = {
        "traffic": {"rps": 10},
        "endpoints": [{"name": "a", "share": 1, "handler": "sync"}],
    }
    base.update(data)
    with pytest.raises(ValidationError) as exc:
        Scenario.model_validate(base)
    errors = exc.value.errors()
    locs = [".".join(str(p) for p in e["loc"]) for e in errors]
    assert field in locs
    text = str(exc.value)
    assert value in text
    # pydantic states the bound ("greater than 0", "less than or equal to 1", "'sync' or 'async'").
    assert any(w in text for w in ("greater", "less", "'sync'", "finite"))


def test_shares_must_sum_to_one() -> None:
    with pytest.raises(ValidationError, match=r"shares must sum to 1, got 0\.9"):
        Scenario.model_validate(
            {
                "traffic": {"rps": 1},
                "endpoints": [
                    {"name": "a", "share": 0.5, "handler": "sync"},
                    {"name": "b", "share": 0.4, "handler": "async"},
                ],
            }
        )


def test_blocking_in_async_rejected_for_sync_handler() -> None:
    with pytest.raises(ValidationError, match="blocking_in_async_ms applies to async handlers"):
        _one(blocking_in_async_ms=5)


def test_budget_reserved_below_max() -> None:
    with pytest.raises(ValidationError, match="db_reserved_connections"):
        Deployment(db_max_connections=10, db_reserved_connections=10)


def test_token_passes_follow_fastapi() -> None:
    assert _one().endpoints[0].token_passes == 1
    assert _one(response_model=True).endpoints[0].token_passes == 2
    assert _one(response_model=True, sync_dependencies=2).endpoints[0].token_passes == 4
    a = Endpoint(name="x", share=1, handler="async", response_model=True, sync_dependencies=1)
    assert a.token_passes == 1


def test_simple_constructor_one_line() -> None:
    s = Scenario.simple(rps=120, sync_fraction=0.25, upstream_latency_ms=40, db_pool_size=8, cores=4)
    assert [e.share for e in s.endpoints] == [0.25, 0.75]
    assert s.deployment.db_pool_size == 8 and s.deployment.cores_per_host == 4
    assert all(e.upstream_latency_ms == 40 and e.upstream_calls == 1 for e in s.endpoints)
    assert len(Scenario.simple(rps=1, sync_fraction=1.0, upstream_latency_ms=0).endpoints) == 1
    with pytest.raises(ValueError, match=r"'sync_fraction' must be a finite number in \[0, 1\] \(got 2\)"):
        Scenario.simple(rps=1, sync_fraction=2, upstream_latency_ms=1)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name: str) -> None:
    s = preset(name)
    again = Scenario.model_validate_json(s.model_dump_json())
    assert again == s
    assert json.loads(again.model_dump_json()) == json.loads(s.model_dump_json())


@given(
    rps=st.floats(0.1, 1e5),
    peak=st.floats(1, 10),
    share=st.floats(0, 1),
    tokens=st.integers(1, 500),
    cpu=st.floats(0.01, 50),
    io=st.floats(0, 1000),
    cv2=st.floats(0, 4),
)
def test_round_trip_any_valid_scenario(
    rps: float, peak: float, share: float, tokens: int, cpu: float, io: float, cv2: float
) -> None:
    s = Scenario(
        traffic=Traffic(rps=rps, peak_factor=peak),
        endpoints=[
            Endpoint(name="a", share=share, handler="sync", cpu_ms=cpu, other_io_ms=io, other_io_cv2=cv2),
            Endpoint(name="b", share=1 - share, handler="async", cpu_ms=cpu),
        ],
        deployment=Deployment(thread_tokens=tokens),
        targets=Targets(),
    )
    assert Scenario.model_validate_json(s.model_dump_json()) == s


@pytest.mark.parametrize("cv2", [0.05, 0.3, 1.0, 3.0])
def test_lognormal_fit_recovers_p99(cv2: float) -> None:
    mean = 20.0
    sigma = math.sqrt(math.log1p(cv2))
    p99 = stats.lognorm(s=sigma, scale=mean * math.exp(-(sigma**2) / 2)).ppf(0.99)
    assert lognormal_cv2_from_p99(mean, p99) == pytest.approx(cv2, rel=1e-9)


def test_p99_beside_mean_sets_cv2_and_rejects_impossible() -> None:
    e = Endpoint(
        name="a",
        share=1,
        handler="async",
        upstream_calls=1,
        upstream_latency_ms=100,
        upstream_latency_p99_ms=400,
    )
    assert e.upstream_latency_cv2_effective == pytest.approx(lognormal_cv2_from_p99(100, 400))
    with pytest.raises(ValidationError, match="upstream_latency_p99_ms"):
        Endpoint(name="a", share=1, handler="async", upstream_latency_ms=100, upstream_latency_p99_ms=50)
    with pytest.raises(ValidationError, match=r"at most 14\.97x"):
        Endpoint(name="a", share=1, handler="async", other_io_ms=10, other_io_p99_ms=500)


def test_pool_timeout_and_limit_concurrency_are_deployment_settings() -> None:
    """The two server-side limits: defaults keep what was there before (SQLAlchemy's 30 s pool_timeout, no
    --limit-concurrency), and each is checked like every other field."""
    d = Deployment()
    assert d.db_pool_timeout_ms == 30_000.0 and d.limit_concurrency is None
    with pytest.raises(ValidationError, match="db_pool_timeout_ms"):
        Deployment(db_pool_timeout_ms=0)
    with pytest.raises(ValidationError, match="limit_concurrency"):
        Deployment(limit_concurrency=0)


def test_the_pool_timeout_is_the_one_the_finding_and_the_snippets_use() -> None:
    """A DB pool of one connection held 100 ms at 9 requests/s waits 4.5 s at the p99 (M/M/1: the p99 of the
    wait is ln(rho / 0.01) / (mu - lambda) = ln(90) / 1 s): past a 0.5 s pool_timeout, within 30 s."""
    from sizing import evaluate, recommend

    ep = Endpoint(name="a", share=1, handler="async", cpu_ms=0.5, db_hold_ms=100)
    s = Scenario(traffic=Traffic(rps=9.0), endpoints=[ep], deployment=Deployment(db_pool_size=1, db_max_overflow=0))
    wait = evaluate(s).stage("db_pool")
    assert wait is not None and wait.wait_p99_ms == pytest.approx(1000 * math.log(90.0), rel=0.01)
    assert "db_pool_timeouts" not in {f.code for f in evaluate(s).findings}
    short = s.model_copy(update={"deployment": s.deployment.model_copy(
        update={"db_pool_timeout_ms": 500.0, "limit_concurrency": 64})})
    (finding,) = [f for f in evaluate(short).findings if f.code == "db_pool_timeouts"]
    assert "pool_timeout of 0.5 s" in finding.message
    snippets = recommend(short).snippets
    assert "pool_timeout=0.5," in snippets["sqlalchemy"] and "timeout=0.5)" in snippets["psycopg_pool"]
    assert "--limit-concurrency 64 " in snippets["uvicorn"]
    assert "pool_timeout=30," in recommend(s).snippets["sqlalchemy"]
