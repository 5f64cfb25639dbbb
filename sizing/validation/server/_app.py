"""The emulating FastAPI application: one route per endpoint class, reproducing `request_phases` exactly.

Started by uvicorn as `sizing.validation.server:create_app --factory`; the scenario comes in the
environment variable SIZING_REALSERVER_CONFIG (JSON: {"scenario": ..., "seed": int}).

Route `/e/{i}` is endpoint class i:
* `def` handler: an `async def` dependency burns the loop turn's CPU on the event loop, each `def`
  dependency is one token pass, the `def` body is the main pass (CPU, DB hold, upstream calls, other I/O),
  and with `response_model` the body returns a dict that FastAPI validates in the threadpool (a second
  pass; FastAPI does so only for a `def` endpoint that has a response field and does not return a
  Response, see fastapi.routing.serialize_response) where a model validator burns that pass's CPU.
  Without `response_model` the body returns a `Response`, so no response field exists and no pass is added.
* `async def` handler: `def` dependencies are token passes, the body burns the loop turn's CPU and blocks
  the loop with `time.sleep` for `blocking_in_async_ms`, then awaits DB, upstream and other I/O; the
  response turn after it is the handler resuming on the loop to return.

CPU is burned metered by the thread's own CPU clock, so a burn costs the requested CPU even when the
thread waits for the GIL or is preempted. The framework's own CPU per request moves with the load (the loop
batches more when busy), so a burn plan made from a calibration without burn leaves a request a few percent
off `cpu_ms`: with control on, a loop task measures the CPU per request in batches (full GC pauses and the
/_stats samples taken off, as the model counts GC separately) and scales every burn to hold the mix at its
target. With `admit` set, requests past that many in flight on the endpoint routes get an immediate 503,
as uvicorn's --limit-concurrency would answer them: at overload the backlog stays bounded.
Internal routes: `/_stats` (limiter statistics, pools, CPU clock, burn factor, shed count), `/_config`
(burn plan, control, admission and thread tokens, set by the harness; answers with the worker's pid),
`/_trivial` (the generator's ceiling and the client overhead), `/_handoff` (a fixed 10 ms `def` body to
measure the token hand-off at saturation).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel, model_validator

from sizing.scenario._lifecycle import Phase, Step, request_phases
from sizing.scenario._models import Scenario
from sizing.validation.server._backends import RequestFailedError, Session, make_pools
from sizing.validation.server._instruments import (
    Admission,
    AdmissionGate,
    Control,
    GcClock,
    Meter,
    burn,
    control_cpu,
)

__all__ = ["CONFIG_ENV", "HANDOFF_BODY_MS", "create_app"]

CONFIG_ENV = "SIZING_REALSERVER_CONFIG"
HANDOFF_BODY_MS = 10.0
_OK = b'{"ok":true}'


def _sleep_measured(meter: Meter, kind: str, seconds: float) -> None:
    t0 = time.perf_counter()
    time.sleep(seconds)
    meter.add(f"{kind}.n")
    meter.add(f"{kind}.over_ms", (time.perf_counter() - t0 - seconds) * 1000.0)


async def _asleep_measured(meter: Meter, kind: str, seconds: float) -> None:
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    meter.add(f"{kind}.n")
    meter.add(f"{kind}.over_ms", (time.perf_counter() - t0 - seconds) * 1000.0)


class _State:
    def __init__(self, scenario: Scenario, seed: int, backend: dict[str, Any] | None = None) -> None:
        self.scenario = scenario
        self.rng = random.Random(seed * 1_000_003 + os.getpid())
        self.meter = Meter()
        self.pools = make_pools(scenario, self.meter, backend)
        self.rows = int((backend or {}).get("rows", 1))
        # burns[class][phase]: CPU ms per phase; 0 until the harness has measured the framework's own CPU.
        self.burns: list[list[float]] = [[0.0] * len(request_phases(e)) for e in scenario.endpoints]
        self.handoff_bodies: deque[tuple[float, float]] = deque(maxlen=20_000)
        self.gc = GcClock()
        gc.callbacks.append(self.gc)
        self.control = Control()
        self.gate = AdmissionGate()

    def row(self) -> int:
        """A seeded row to read (the real backend's table holds rows 1..rows)."""
        return self.rng.randint(1, self.rows)

    def draw_s(self, step: Step) -> float:
        """One service time (seconds) from the step's distribution: constant for cv2 0, else lognormal."""
        if step.mean_ms <= 0.0:
            return 0.0
        if step.cv2 <= 0.0:
            return step.mean_ms / 1000.0
        s2 = math.log1p(step.cv2)
        mu = math.log(step.mean_ms) - s2 / 2.0
        return self.rng.lognormvariate(mu, math.sqrt(s2)) / 1000.0

    def burn(self, ms: float) -> None:
        ms *= self.control.factor
        if ms > 0.0:
            used = burn(ms)
            self.meter.add("cpu.n")
            self.meter.add("cpu.req_ms", ms)
            self.meter.add("cpu.used_ms", used)

    def burn_held(self, ms: float) -> None:
        """A driver's CPU inside a DB hold, as the scenario gives it: not scaled by the control, which
        counts it with the framework's own CPU (what a request costs beyond the planned burns)."""
        if ms > 0.0:
            used = burn(ms)
            self.meter.add("cpu.n")
            self.meter.add("cpu.req_ms", ms)
            self.meter.add("cpu.used_ms", used)

    def planned_burn_ms(self) -> float:
        """The burn per request of the mix at factor 1 (ms)."""
        eps = self.scenario.endpoints
        return math.fsum(e.share * math.fsum(row) for e, row in zip(eps, self.burns, strict=True))


def _held_sync(state: _State, step: Step) -> Callable[[], None] | None:
    """The driver's CPU a DB step holds, burned in the thread after its round trips (one burn per piece)."""
    if not step.held_cpu_ms:
        return None

    def held() -> None:
        for ms in step.held_cpu_ms:
            state.burn_held(ms)

    return held


def _held_async(state: _State, step: Step) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """The same on the loop: each piece a loop turn of its own, as a driver's callbacks are."""
    if not step.held_cpu_ms:
        return None

    async def held() -> None:
        for ms in step.held_cpu_ms:
            await asyncio.sleep(0)
            state.burn_held(ms)

    return held


def _run_steps_sync(state: _State, steps: tuple[Step, ...], burn_ms: float, session: Session | None = None) -> None:
    """A phase's steps in a thread (or on the loop, for an async handler's turn); with `session`, the DB
    steps query through the request's session instead of checking a connection out each."""
    for step in steps:
        if step.kind == "cpu":
            state.burn(burn_ms)
        elif step.kind == "db" and session is not None:
            session.query(state.draw_s(step), state.row(), _held_sync(state, step))
        elif step.kind == "db":
            state.pools.db_sync(state.draw_s(step), state.row(), _held_sync(state, step))
        elif step.kind == "http":
            state.pools.http_sync(state.draw_s(step))
        else:  # io, and block (the loop turn of an async handler runs this on the loop on purpose)
            _sleep_measured(state.meter, step.kind, state.draw_s(step))


async def _run_steps_async(state: _State, steps: tuple[Step, ...]) -> None:
    for step in steps:
        if step.kind == "db":
            await state.pools.db_async(state.draw_s(step), state.row(), _held_async(state, step))
        elif step.kind == "http":
            await state.pools.http_async(state.draw_s(step))
        elif step.kind == "io":
            await _asleep_measured(state.meter, "io", state.draw_s(step))
        else:
            raise AssertionError(f"step {step.kind} cannot follow an async handler's loop turn")


class _Validated(BaseModel):
    """The response model of a `def` endpoint with `response_model`: validating it is the last pass."""

    c: int
    p: int

    @model_validator(mode="after")
    def _burn_pass(self) -> _Validated:
        st = _STATE
        if st is not None:
            st.burn(st.burns[self.c][self.p])
            st.meter.add(f"pass.{self.c}")
        return self


_STATE: _State | None = None  # one per worker process; set by create_app


def _token_dep(state: _State, c: int, p: int) -> Callable[[], None]:
    def dep() -> None:
        state.burn(state.burns[c][p])
        state.meter.add(f"pass.{c}")

    dep.__name__ = f"dep_{c}_{p}"
    return dep


def _loop_dep(state: _State, c: int, p: int) -> Callable[[], Coroutine[Any, Any, None]]:
    async def loop_turn() -> None:
        state.burn(state.burns[c][p])

    return loop_turn


@dataclass(frozen=True, slots=True)
class _Route:
    """Class c's phases as its route runs them."""

    deps: list[Any]  # one dependency per token pass or loop turn before the body
    body: Phase
    body_index: int
    after: list[tuple[int, Phase]]  # (index, phase) after the body


def _add_class_route(app: FastAPI, state: _State, c: int) -> None:
    if state.scenario.endpoints[c].holds_connection_across_passes:
        _add_session_route(app, state, c)
        return
    route = _class_phases(state, c)
    if state.scenario.endpoints[c].handler == "sync":
        _add_sync_route(app, state, c, route)
    else:
        _add_async_route(app, state, c, route)


def _class_phases(state: _State, c: int) -> _Route:
    """Class c's phases as the route runs them (see `_Route`)."""
    ep = state.scenario.endpoints[c]
    phases = request_phases(ep)
    deps: list[Any] = []
    body: Phase | None = None
    body_index = -1
    after: list[tuple[int, Phase]] = []
    for p, phase in enumerate(phases):
        if ep.handler == "sync":
            if phase.holds == "loop":
                if phase.steps:  # no cpu in the loop turn: add no dependency (and no framework cost)
                    deps.append(Depends(_loop_dep(state, c, p), use_cache=False))
            elif body is None and p == len(phases) - 1 - int(ep.response_model):
                body, body_index = phase, p
            elif body is None:
                deps.append(Depends(_token_dep(state, c, p), use_cache=False))
            else:
                after.append((p, phase))
        else:
            if phase.holds == "token":
                deps.append(Depends(_token_dep(state, c, p), use_cache=False))
            elif phase.holds == "loop" and body is None:
                body, body_index = phase, p
            elif phase.holds is None:
                after.append((p, phase))
            # A loop phase after the I/O is the response turn: returning from the awaited I/O takes it.
    assert body is not None
    return _Route(deps, body, body_index, after)


def _add_sync_route(app: FastAPI, state: _State, c: int, route: _Route) -> None:
    path, deps = f"/e/{c}", route.deps
    body_steps, bi = route.body.steps, route.body_index
    if state.scenario.endpoints[c].response_model:
        ((vp, _),) = route.after

        def sync_validated() -> dict[str, int]:
            _run_steps_sync(state, body_steps, state.burns[c][bi])
            state.meter.add(f"pass.{c}")
            state.meter.add(f"done.{c}")
            return {"c": c, "p": vp}

        app.get(path, dependencies=deps, response_model=_Validated)(sync_validated)
    else:

        def sync_plain() -> Response:
            _run_steps_sync(state, body_steps, state.burns[c][bi])
            state.meter.add(f"pass.{c}")
            state.meter.add(f"done.{c}")
            return Response(_OK, media_type="application/json")

        app.get(path, dependencies=deps)(sync_plain)


def _add_async_route(app: FastAPI, state: _State, c: int, route: _Route) -> None:
    path, deps = f"/e/{c}", route.deps
    loop_steps, li = route.body.steps, route.body_index
    io_steps: tuple[Step, ...] = route.after[0][1].steps if route.after else ()

    async def async_handler() -> Response:
        # The loop turn: CPU and blocking run here on purpose, holding the event loop.
        _run_steps_sync(state, loop_steps, state.burns[c][li])
        if io_steps:
            await _run_steps_async(state, io_steps)
        state.meter.add(f"done.{c}")
        return Response(_OK, media_type="application/json")

    app.get(path, dependencies=deps)(async_handler)


def _add_session_route(app: FastAPI, state: _State, c: int) -> None:
    """The FastAPI tutorial's pattern: a `def` generator dependency yields a lazy session (pass 1) and
    closes it in its exit, after the response, on a limiter of its own; every other `def` dependency and the
    body take it as a sub-dependency (cached: one session per request), and the first query checks the
    connection out."""
    phases = request_phases(state.scenario.endpoints[c])
    loop_i = 0
    passes = [i for i, p in enumerate(phases) if p.holds == "token"]
    exit_i = len(phases) - 1
    response_model = state.scenario.endpoints[c].response_model
    body_i = passes[-2] if response_model else passes[-1]

    def get_db() -> Iterator[Session]:
        db = state.pools.session()
        try:
            _run_steps_sync(state, phases[passes[0]].steps, state.burns[c][passes[0]], db)
            state.meter.add(f"pass.{c}")
            yield db
        finally:
            state.burn(state.burns[c][exit_i])
            db.close()

    limit = state.scenario.deployment.db_session_max_concurrency
    # FastAPI's own limit: the semaphore is taken on the loop before the generator's entry, released after
    # its exit; one per Depends object, so every use below shares it.
    session_dep = Depends(get_db) if limit is None else Depends(get_db, max_concurrency=limit)

    def pass_dep(i: int) -> Callable[..., None]:
        def dep(db: Session = session_dep) -> None:
            _run_steps_sync(state, phases[i].steps, state.burns[c][i], db)
            state.meter.add(f"pass.{c}")

        dep.__name__ = f"session_dep_{c}_{i}"
        return dep

    deps: list[Any] = []
    if phases[loop_i].steps:
        deps.append(Depends(_loop_dep(state, c, loop_i), use_cache=False))
    deps.append(session_dep)
    deps.extend(Depends(pass_dep(i), use_cache=False) for i in passes[1:] if i < body_i)

    def body(db: Session = session_dep) -> Any:
        _run_steps_sync(state, phases[body_i].steps, state.burns[c][body_i], db)
        state.meter.add(f"pass.{c}")
        state.meter.add(f"done.{c}")
        if response_model:
            return {"c": c, "p": passes[-1]}
        return Response(_OK, media_type="application/json")

    if response_model:
        app.get(f"/e/{c}", dependencies=deps, response_model=_Validated)(body)
    else:
        app.get(f"/e/{c}", dependencies=deps)(body)


def create_app(config: dict[str, Any] | None = None) -> FastAPI:
    """The emulating app for the scenario in `config` or in $SIZING_REALSERVER_CONFIG."""
    global _STATE
    if config is None:
        config = json.loads(os.environ[CONFIG_ENV])
    scenario = Scenario.model_validate(config["scenario"])
    state = _State(scenario, int(config.get("seed", 0)), config.get("backend"))
    _STATE = state
    app = FastAPI(lifespan=_lifespan(state), openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(Admission, gate=state.gate)
    app.add_exception_handler(RequestFailedError, _failed)
    for c in range(len(scenario.endpoints)):
        _add_class_route(app, state, c)
    _add_internal_routes(app, state)
    return app


def _lifespan(state: _State) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    tokens = state.scenario.deployment.thread_tokens

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Only inside the running loop: the limiter is per event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = tokens
        await state.pools.open()
        control = asyncio.create_task(control_cpu(state.control, state.meter, state.gc, state.planned_burn_ms))
        yield
        control.cancel()
        await state.pools.close()

    return lifespan


def _add_internal_routes(app: FastAPI, state: _State) -> None:
    @app.get("/_stats")
    async def stats() -> Response:
        out = _stats(state)
        state.meter.add("stats.n")
        return Response(json.dumps(out).encode(), media_type="application/json")

    @app.get("/_handoff_bodies")
    async def handoff_bodies() -> Response:
        data = list(state.handoff_bodies)
        state.handoff_bodies.clear()
        return Response(json.dumps(data).encode(), media_type="application/json")

    @app.post("/_config")
    async def configure(request: Request) -> Response:
        return _configure(state, json.loads(await request.body()))

    @app.get("/_trivial")
    async def trivial() -> Response:
        return Response(_OK, media_type="application/json")

    @app.get("/_dbcal")
    async def dbcal(kind: str = "sync", n: int = 200) -> Response:
        steps = max(1, min(n, 10_000))
        if kind == "sync":
            out = await anyio.to_thread.run_sync(_db_calibration_sync, state, steps)
        else:
            out = await _db_calibration_async(state, steps)
        return Response(json.dumps(out).encode(), media_type="application/json")

    @app.get("/_handoff")
    def handoff() -> Response:
        t0 = time.monotonic()
        time.sleep(HANDOFF_BODY_MS / 1000.0)
        state.handoff_bodies.append((t0, time.monotonic()))
        return Response(_OK, media_type="application/json")


def _db_calibration_sync(state: _State, n: int) -> dict[str, float]:
    """`n` DB steps in a row from one thread, asking the database for no time: what a step costs on its own
    (the hold, and the thread's CPU in it: the driver's), with nothing else running."""
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        state.pools.db_sync(0.0, state.row())
    return {"hold_ms": (time.perf_counter() - t0) * 1000.0 / n, "cpu_ms": (time.thread_time() - c0) * 1000.0 / n}


async def _db_calibration_async(state: _State, n: int) -> dict[str, float]:
    """The same on the loop (the process's CPU: the harness sends nothing else meanwhile)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await state.pools.db_async(0.0, state.row())
    return {"hold_ms": (time.perf_counter() - t0) * 1000.0 / n, "cpu_ms": (time.process_time() - c0) * 1000.0 / n}


async def _failed(_request: Request, exc: Exception) -> Response:
    """A step that failed as in a real service (a pool timeout, a refused connection): a 500 with its cause."""
    cause = exc.cause if isinstance(exc, RequestFailedError) else "error"
    return Response(json.dumps({"error": cause}).encode(), status_code=500, media_type="application/json")


def _stats(state: _State) -> dict[str, Any]:
    """The body of /_stats (called on the event loop: the limiter is the loop's)."""
    lim = anyio.to_thread.current_default_thread_limiter().statistics()
    return {
        "pid": os.getpid(),
        "t": time.monotonic(),
        "cpu_s": time.process_time(),
        "borrowed_tokens": lim.borrowed_tokens,
        "total_tokens": lim.total_tokens,
        "tasks_waiting": lim.tasks_waiting,
        "pools": state.pools.stats(),
        "errors": dict(state.pools.errors),
        "counts": state.meter.snapshot(),
        "gc": {"n": state.gc.n, "ms": state.gc.ms, "full": list(state.gc.full)[-200:]},
        "burn_factor": state.control.factor,
        "control_batches": state.control.batches,
        "shed": state.gate.shed,
        "in_flight": state.gate.in_flight,
    }


def _configure(state: _State, body: dict[str, Any]) -> Response:
    """Apply a /_config body (called on the event loop: the limiter is the loop's)."""
    if "burns" in body:
        burns = [[float(x) for x in row] for row in body["burns"]]
        if [len(r) for r in burns] != [len(r) for r in state.burns]:
            return Response(b'{"error":"burns shape"}', status_code=400)
        state.burns = burns
    if "tokens" in body:
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(body["tokens"])
    if "control" in body:
        ctl = body["control"]
        state.control.enabled = bool(ctl["enabled"])
        state.control.target_ms = float(ctl.get("target_ms", state.control.target_ms))
        state.control.stats_cost_s = float(ctl.get("stats_cost_s", state.control.stats_cost_s))
        state.control.idle_cores = float(ctl.get("idle_cores", state.control.idle_cores))
        if "factor" in ctl:
            state.control.factor = float(ctl["factor"])
    if "admit" in body:
        state.gate.limit = None if body["admit"] is None else int(body["admit"])
    out = {"pid": os.getpid(), "burn_factor": state.control.factor}
    return Response(json.dumps(out).encode(), media_type="application/json")
