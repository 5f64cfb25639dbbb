"""`loop_cpu_ms`: where an endpoint's CPU runs (the event loop or its token passes), in the lifecycle, the
scenario's validation, the model and the simulator."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sizing import evaluate
from sizing.scenario import Deployment, Endpoint, Runtime, Scenario, Traffic, request_phases
from sizing.simulation import simulate


def cpu_by_phase(ep: Endpoint) -> list[tuple[str | None, float]]:
    return [(p.holds, sum(s.mean_ms for s in p.steps if s.kind == "cpu")) for p in request_phases(ep)]


def test_unset_splits_cpu_evenly_over_the_loop_turn_and_the_passes() -> None:
    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.4, response_model=True, sync_dependencies=1)
    assert cpu_by_phase(ep) == [("loop", pytest.approx(0.6))] + [("token", pytest.approx(0.6))] * 3


def test_loop_cpu_takes_its_share_and_the_passes_split_the_rest() -> None:
    # def + response_model: 2.5 ms in all, 1.5 on the loop, so each of the 2 passes holds (2.5 - 1.5) / 2.
    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.5, loop_cpu_ms=1.5, response_model=True,
                  db_hold_ms=4.0)
    phases = request_phases(ep)
    assert cpu_by_phase(ep) == [("loop", 1.5), ("token", 0.5), ("token", 0.5)]
    assert [s.kind for s in phases[1].steps] == ["cpu", "db"]  # the body's pass keeps its I/O
    # async def with 2 def dependencies: the body on the loop, the dependencies share the rest.
    ep = Endpoint(name="b", share=1, handler="async", cpu_ms=3.0, loop_cpu_ms=2.0, sync_dependencies=2)
    assert cpu_by_phase(ep) == [("token", 0.5), ("token", 0.5), ("loop", 2.0)]
    # async def with no def dependency: everything is on the loop, so loop_cpu_ms = cpu_ms is the only value.
    ep = Endpoint(name="c", share=1, handler="async", cpu_ms=3.0, loop_cpu_ms=3.0)
    assert cpu_by_phase(ep) == [("loop", 3.0)]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"handler": "sync", "cpu_ms": 2.0, "loop_cpu_ms": 2.0}, r"loop_cpu_ms must be less than cpu_ms = 2\.0"),
        ({"handler": "sync", "cpu_ms": 2.0, "loop_cpu_ms": 3.0}, r"token pass\(es\) run the rest.*got 3\.0"),
        ({"handler": "async", "cpu_ms": 2.0, "loop_cpu_ms": 1.0}, r"loop_cpu_ms is 1\.0 but cpu_ms is 2\.0"),
        ({"handler": "sync", "cpu_ms": 2.0, "loop_cpu_ms": 0.0}, r"loop_cpu_ms\n.*greater than 0"),
        ({"handler": "sync", "cpu_ms": 2.0, "loop_cpu_ms": float("inf")}, r"loop_cpu_ms\n.*finite"),
    ],
)
def test_invalid_loop_cpu_names_the_field_the_value_and_the_range(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Endpoint(name="a", share=1, **kw)  # type: ignore[arg-type]


def _scenario(loop_cpu_ms: float | None, rps: float, tokens: int = 8) -> Scenario:
    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.5, loop_cpu_ms=loop_cpu_ms, response_model=True,
                  other_io_ms=5.0)
    return Scenario(
        traffic=Traffic(rps=rps),
        endpoints=[ep],
        deployment=Deployment(thread_tokens=tokens),
        runtime=Runtime(token_handoff_ms=0.1),
    )


def test_light_load_holds_are_the_split_in_the_simulator() -> None:
    """At 2% CPU nothing waits: the loop holds 1.5 ms per request; a token 0.5 + 0.1 ms on the response
    pass and 0.5 + 5 + 0.1 ms on the body's."""
    r = simulate(_scenario(1.5, 8.0), requests=20_000, replications=4, seed=3)
    loop, tokens, cpu = r.stage("event_loop"), r.stage("thread_tokens"), r.stage("cpu")
    assert loop is not None and tokens is not None and cpu is not None
    assert loop.hold_ms == pytest.approx(1.5, rel=0.02)
    assert tokens.hold_ms == pytest.approx((5.6 + 0.6) / 2, rel=0.03)
    assert cpu.utilization == pytest.approx(8.0 * 2.5 / 1000.0, rel=0.03)


def test_model_follows_the_simulator_where_the_cpu_runs() -> None:
    """8 tokens, a def endpoint with response_model and 5 ms of I/O at 200 rps (CPU 0.5). More CPU on the
    loop makes every request wait longer for the loop and the threads longer for the core (the loop goes
    first): the simulator's mean rises from a 0.5 ms to a 1.5 ms loop share, the even split between. The
    model has the same order and stays within 8% on the mean and 12% on the p99."""
    model, sim = {}, {}
    for x in (0.5, None, 1.5):
        model[x] = evaluate(_scenario(x, 200.0)).overall
        sim[x] = simulate(_scenario(x, 200.0), requests=200_000, replications=5, seed=5).overall
        assert model[x].mean_ms == pytest.approx(sim[x].mean_ms, rel=0.08)
        assert model[x].p99_ms == pytest.approx(sim[x].p99_ms, rel=0.12)
    assert sim[0.5].mean_ms < sim[None].mean_ms < sim[1.5].mean_ms
    assert model[0.5].mean_ms < model[None].mean_ms < model[1.5].mean_ms
