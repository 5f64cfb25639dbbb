"""recommend: meets every target, is minimal in every number, and says so when nothing can."""

from __future__ import annotations

import math
import subprocess

import pytest

from sizing import Deployment, Endpoint, Scenario, Targets, Traffic, evaluate, preset, recommend
from sizing.model import PYTHON_SNIPPETS, SHELL_SNIPPETS, missed_targets
from sizing.scenario import PRESETS

SCENARIOS = {
    **{name: preset(name) for name in sorted(PRESETS)},
    "simple": Scenario.simple(
        rps=400,
        sync_fraction=0.6,
        upstream_latency_ms=90,
        db_pool_size=5,
        cores=4,
        peak_factor=1.5,
        latency_p99_ms=600,
    ),
}


def _misses(s: Scenario, dep: Deployment) -> list[str]:
    return missed_targets(s, dep)


_RECOMMENDED: dict[str, Deployment] = {}


def _recommended(name: str) -> tuple[Scenario, Deployment]:
    s = SCENARIOS[name]
    if name not in _RECOMMENDED:
        rec = recommend(s)
        assert rec.feasible, rec.impossible
        assert rec.evaluation is not None
        _RECOMMENDED[name] = s.deployment.model_copy(update={st.name: st.value for st in rec.settings})
    return s, _RECOMMENDED[name]


def _used(s: Scenario, resource: str) -> bool:
    return {
        "thread_tokens": any(e.token_passes for e in s.endpoints),
        "db_pool_size": any(e.uses_db for e in s.endpoints),
        "http_max_connections": any(e.upstream_calls for e in s.endpoints),
    }.get(resource, True)


_RESOURCES = ["thread_tokens", "db_pool_size", "http_max_connections", "workers_per_host", "hosts"]
_CASES = [(n, r) for n in sorted(SCENARIOS) for r in _RESOURCES if _used(SCENARIOS[n], r)]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recommendation_meets_every_target(name: str) -> None:
    s, dep = _recommended(name)
    assert _misses(s, dep) == []
    ev = evaluate(s, deployment=dep)
    assert ev.meets_targets and ev.stable
    assert ev.overall.p99_ms is not None and ev.overall.p99_ms <= s.targets.latency_p99_ms
    assert ev.cpu_utilization_worker <= s.targets.max_cpu_utilization + 1e-12
    assert ev.headroom >= s.targets.min_headroom  # max_rps by bisection on the rate, not the sizing's check
    assert dep.workers_per_host <= dep.cores_per_host
    assert dep.fleet_db_connections <= dep.db_connection_budget


@pytest.mark.parametrize(("name", "resource"), _CASES)
def test_one_less_of_any_resource_misses_a_target(name: str, resource: str) -> None:
    s, dep = _recommended(name)
    value = getattr(dep, resource)
    assert value >= 1
    if value == 1:
        return  # the smallest value the setting allows: nothing less to try
    less = dep.model_copy(update={resource: value - 1})
    assert _misses(s, less), f"{resource}={value - 1} still meets every target"


def test_reasons_are_given_for_every_number() -> None:
    rec = recommend(preset("mixed service"))
    names = [st.name for st in rec.settings]
    assert names == [
        "hosts",
        "workers_per_host",
        "thread_tokens",
        "db_pool_size",
        "db_max_overflow",
        "http_max_connections",
    ]
    assert all(len(st.reason) > 20 for st in rec.settings)


def test_impossible_latency_target_says_what_would_fix_it() -> None:
    s = Scenario(
        traffic=Traffic(rps=50),
        endpoints=[
            Endpoint(
                name="slow",
                share=1,
                handler="async",
                cpu_ms=1,
                upstream_calls=1,
                upstream_latency_ms=300,
                upstream_latency_cv2=0.0,
            )
        ],
        targets=Targets(latency_p99_ms=200),
    )
    rec = recommend(s)
    assert not rec.feasible
    assert [f.code for f in rec.impossible] == ["latency_target_impossible"]
    assert "upstream latency" in rec.impossible[0].message


def test_db_budget_too_small_is_reported_with_pgbouncer() -> None:
    s = Scenario(
        traffic=Traffic(rps=3000),
        endpoints=[Endpoint(name="crud", share=1, handler="sync", cpu_ms=1.0, db_hold_ms=20)],
        deployment=Deployment(cores_per_host=4, db_max_connections=20, db_reserved_connections=3),
        targets=Targets(latency_p99_ms=300),
    )
    rec = recommend(s)
    assert not rec.feasible
    f = next(f for f in rec.impossible if f.code == "fleet_db_over_budget")
    assert "PgBouncer" in f.message and "max_connections" in f.message


def test_snippets_are_valid_python_and_shell(tmp_path: object) -> None:
    rec = recommend(preset("mixed service"))
    assert set(rec.snippets) == set(PYTHON_SNIPPETS) | set(SHELL_SNIPPETS)
    for name in PYTHON_SNIPPETS:
        compile(rec.snippets[name], f"<{name}>", "exec")
    for name in SHELL_SNIPPETS:
        subprocess.run(["bash", "-n"], input=rec.snippets[name], text=True, check=True)
    tokens = rec.value("thread_tokens")
    assert f"THREAD_TOKENS = {tokens}" in rec.snippets["lifespan"]
    assert f"--workers {rec.value('workers_per_host')}" in rec.snippets["uvicorn"]
    assert f"pool_size={rec.value('db_pool_size')}" in rec.snippets["sqlalchemy"]


@pytest.mark.parametrize("today", [
    {"http_max_connections": 1},
    {"db_pool_size": 1, "db_max_overflow": 0},
    {"thread_tokens": 1},
    {"thread_tokens": 500, "db_pool_size": 200, "http_max_connections": 1000},
])
def test_recommendation_does_not_depend_on_todays_pools(today: dict[str, int]) -> None:
    # Today's pools and tokens are what recommend replaces: an unstable one today must not leak into workers.
    s = preset("mixed service")
    base = recommend(s)
    other = recommend(s.model_copy(update={"deployment": s.deployment.model_copy(update=today)}))
    assert [(x.name, x.value) for x in other.settings] == [(x.name, x.value) for x in base.settings]


def _io_bound(min_headroom: float) -> Scenario:
    """100 rps of `def` requests holding a token ~100 ms (100 ms of I/O, 0.2 ms CPU, the hand-off) and
    latency targets too loose to bind: only stability and the headroom target size the tokens."""
    return Scenario.model_validate(
        {
            "traffic": {"rps": 100},
            "endpoints": [
                {"name": "io", "share": 1, "handler": "sync", "cpu_ms": 0.2, "other_io_ms": 100, "other_io_cv2": 0}
            ],
            "targets": {
                "latency_p99_ms": 3_600_000,
                "max_pool_wait_p99_ms": 3_600_000,
                "min_headroom": min_headroom,
            },
        }
    )


@pytest.mark.parametrize("min_headroom", [1.0, 1.25, 2.0, 3.0])
def test_tokens_are_sized_to_the_headroom_target(min_headroom: float) -> None:
    """c tokens held H ms saturate at c / H: keeping h x 100 rps stable needs the smallest c > h x 100 x H.
    H is the I/O plus a little (0.2 ms CPU, 0.4 ms hand-off): any H in [100, 101] ms gives the same c."""
    expected = {math.floor(min_headroom * 100 * hold / 1000) + 1 for hold in (100.0, 101.0)}
    assert len(expected) == 1
    s = _io_bound(min_headroom)
    rec = recommend(s)
    dep = s.deployment.model_copy(update={st.name: st.value for st in rec.settings})
    tokens = dep.thread_tokens
    assert rec.feasible and dep.workers == 1 and tokens == expected.pop()
    assert evaluate(s, deployment=dep).max_rps >= min_headroom * 100
    assert evaluate(s, deployment=dep.model_copy(update={"thread_tokens": tokens - 1})).max_rps < min_headroom * 100


def test_headroom_below_the_target_is_a_miss_and_a_warning() -> None:
    lean = recommend(_io_bound(1.0))
    dep = _io_bound(1.0).deployment.model_copy(update={st.name: st.value for st in lean.settings})
    assert lean.evaluation is not None and 1.0 < lean.evaluation.headroom < 1.25
    assert "low_headroom" not in {f.code for f in lean.evaluation.findings}
    strict = evaluate(_io_bound(1.25), deployment=dep)
    assert not strict.meets_targets
    assert _misses(_io_bound(1.25), dep) == ["min_headroom"]
    warning = next(f for f in strict.findings if f.code == "low_headroom")
    assert f"{strict.headroom:.2f}x headroom (target min_headroom 1.25x)" in warning.message
    assert "raise thread tokens" in warning.message
