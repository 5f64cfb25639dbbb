"""A DB driver's CPU inside the connection's hold (`db_cpu_ms`): the lifecycle, the model against the
simulator, the emulating server, and the scenario's checks.

The driver reads each result on the core (a thread's, or the loop's for an `async def` handler), so under
load a connection is held through the wait for the core too. Measured on the real backend (16 tokens, a
pool of 4, 20 ms asked of PostgreSQL through SQLAlchemy + psycopg, 3 ms of CPU per request): the hold was
20.75 ms with nothing else running, 22.0 ms at 0.5 and 23.1 ms at 0.8 of the pool's capacity.
"""

from __future__ import annotations

import math
import warnings

import pytest
from pydantic import ValidationError

from sizing import Deployment, Endpoint, Scenario, Traffic, evaluate, request_phases, simulate
from sizing.simulation import compile_worker, service_sampler


def _scenario(handler: str, rps: float, db_cpu_ms: float = 1.0) -> Scenario:
    ep = Endpoint(name="a", share=1, handler=handler, cpu_ms=3.0, db_hold_ms=21.0, db_hold_cv2=0.0,
                  db_cpu_ms=db_cpu_ms)
    return Scenario(traffic=Traffic(rps=rps), endpoints=[ep],
                    deployment=Deployment(thread_tokens=16, db_pool_size=4, db_max_overflow=0))


@pytest.mark.parametrize("handler", ["sync", "async"])
def test_the_driver_cpu_is_held_inside_the_db_step(handler: str) -> None:
    ep = _scenario(handler, 10.0).endpoints[0]
    phases = request_phases(ep)
    (db,) = [s for p in phases for s in p.steps if s.kind == "db"]
    # Pieces after the round trips that resume the driver: a thread's two waits for the core, an async
    # transaction's three turns of the loop (BEGIN, the query, the reset on return).
    pieces = 2 if handler == "sync" else 3
    assert db.held_cpu_ms == pytest.approx((1.0 / pieces,) * pieces) and db.mean_ms == pytest.approx(20.0)
    assert db.hold_ms == pytest.approx(ep.db_hold_ms)  # the hold as given: round trips and driver together
    cpu = math.fsum(s.mean_ms for p in phases for s in p.steps if s.kind == "cpu")
    assert cpu + sum(db.held_cpu_ms) == pytest.approx(ep.cpu_ms)  # part of cpu_ms, not added to it
    bare = _scenario(handler, 10.0, db_cpu_ms=0.0).endpoints[0]
    assert next(s for p in request_phases(bare) for s in p.steps if s.kind == "db").held_cpu_ms == ()


def test_the_pieces_are_visits_of_their_own_to_the_core_in_the_simulator() -> None:
    def law(_: str, step: object) -> object:
        return service_sampler(step.mean_ms, step.cv2)

    for handler, loop_visits in (("sync", 1), ("async", 5)):  # async: 2 turns + 3 driver turns on the loop
        phases = request_phases(_scenario(handler, 10.0).endpoints[0])
        spec = compile_worker(0.01, 1.0, [("a", 1.0, phases)], (1, 1, 16, 4, 100), law)  # type: ignore[arg-type]
        loop, cpu = spec.classes[0].visits[0], spec.classes[0].visits[1]
        assert (loop, cpu) == (loop_visits, 4)


@pytest.mark.parametrize("handler", ["sync", "async"])
@pytest.mark.parametrize("rps", [100.0, 150.0])
def test_the_model_holds_the_connection_as_the_simulator_does(handler: str, rps: float) -> None:
    """At 0.5 and 0.75 of the pool: mean latency within 10% and p99 within 20% of the simulator (whose 95%
    half-width is a few per cent here), and the connection held longer under load in both."""
    s = _scenario(handler, rps)
    ev = evaluate(s)
    sim = simulate(s, requests=200_000, replications=4, seed=1)
    assert ev.overall.mean_ms == pytest.approx(sim.overall.mean_ms, rel=0.10)
    assert ev.overall.p99_ms == pytest.approx(sim.overall.p99_ms, rel=0.20)
    model_hold, sim_hold = ev.stage("db_pool"), sim.stage("db_pool")
    assert model_hold is not None and sim_hold is not None
    assert model_hold.hold_ms > 21.0 and sim_hold.hold_ms > 21.0  # the waits for the core inside the hold
    assert model_hold.hold_ms == pytest.approx(sim_hold.hold_ms, rel=0.05)


def test_the_hold_grows_with_the_cores_load() -> None:
    holds = [evaluate(_scenario("sync", rps)).stage("db_pool").hold_ms for rps in (20.0, 100.0, 150.0)]  # type: ignore[union-attr]
    assert 21.0 < holds[0] < holds[1] < holds[2]


def test_the_emulating_server_burns_the_driver_cpu_inside_the_hold() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from sizing.validation.server import create_app

    scenario = _scenario("sync", 10.0)
    app = create_app({"scenario": scenario.model_dump(mode="json"), "seed": 1})
    with TestClient(app) as client:
        assert client.get("/e/0").status_code == 200
        counts = client.get("/_stats").json()["counts"]
    assert counts["db_sync.n"] == 1
    # The plan burns nothing before the harness configures it; the two held pieces are burned anyway.
    assert counts["cpu.req_ms"] == pytest.approx(1.0)
    assert counts["db_sync.hold_ms"] >= 21.0 - 0.5  # sleep of the round trips + the driver's CPU


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"db_cpu_ms": 0.5}, "holds no DB connection"),
        ({"db_hold_ms": 1.0, "db_cpu_ms": 1.0}, "less than db_hold_ms"),
        ({"db_hold_ms": 10.0, "cpu_ms": 1.0, "db_cpu_ms": 1.0}, "less than db_hold_ms"),
    ],
)
def test_db_cpu_must_fit_in_the_hold_and_the_requests_cpu(fields: dict[str, float], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Endpoint(name="a", share=1, handler="sync", **fields)
