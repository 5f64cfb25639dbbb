"""How one request of an endpoint class moves through a worker process: the reference semantics.

The analytic model, the simulator and the emulating server all read a request as this sequence of
phases, so the three agree on what is modelled:

* Every request first takes a turn on the **event loop** (a single server per process): parsing, routing,
  and for an `async def` handler its whole body, including any blocking call made inside it
  (`blocking_in_async_ms`: the loop is held, the CPU is free, every other request of the process waits).
* Each **thread-token pass** is a FIFO visit to the AnyIO limiter (c = thread_tokens). The token is held
  for the pass's steps plus a fixed hand-off (`Runtime.token_handoff_ms`, dispatch until the awaiting task
  runs again). Passes come one after the other and each rejoins the back of the queue: `def` dependencies
  first, then the `def` endpoint body, then response validation when `response_model` is set.
* Inside a phase, steps run in order: `cpu` needs the process's single core (the GIL, one server shared by
  the loop and all threads; the loop keeps it from one turn to the next and goes before queued threads, as
  CPython's event loop holds the GIL across its callbacks), `db` acquires a pooled DB connection and
  holds it (nested: a `def` handler keeps its token while it waits for the connection), `http` acquires an
  httpx pool connection for one upstream call, `io` is a pure delay, `block` holds the loop without using
  the CPU.
* An `async def` handler's DB, upstream and other I/O happen after its loop turn, awaiting, holding neither
  a token nor the loop. When they are done the handler needs the loop again to return its response: a
  second loop turn with no CPU of its own (its cost is in the first turn's share) that waits behind
  whatever the loop is doing, like any turn. A `def` handler's response goes out in the turn where its
  last pass hands back the token (the hand-off).
* A `def` endpoint whose session holds its connection for the whole request (`db_connection_scope`
  "request") checks it out in the query of pass `db_first_use_pass` (a DB step that opens, `connection`
  "open") and keeps it through every later pass (DB steps that reuse it, "keep", and passes with no query),
  their token waits included. The response goes out at the end of the last pass; then the generator
  dependency's **exit** runs in a thread of its own, under a limiter of one token made for that call, so it
  never waits for a token but needs the core, and checks the connection back in (a phase holding "exit",
  after the response: it is not part of the latency). Its CPU is a share of `cpu_ms` like a pass's.
* `cpu_ms` is split evenly over the request's loop turn and its token passes (and the exit), unless `loop_cpu_ms` says
  how much of it runs on the loop: then the rest is split evenly over the passes. FastAPI's own work
  (parsing, routing, serialising the response) runs on the loop, so for a light `def` body with a
  `response_model` the even split puts too much CPU inside the token passes.
* A step's duration has mean `mean_ms` and squared coefficient of variation `cv2`: constant when cv2 = 0,
  otherwise lognormal with that mean and cv2 (the usual shape of I/O latency; cv2 = 1 is a lognormal too,
  not an exponential). `cpu` and `block` steps are constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sizing.scenario._models import Endpoint, Runtime

__all__ = ["Phase", "Step", "before_response", "request_phases"]

StepKind = Literal["cpu", "db", "http", "io", "block"]
# How a `db` step uses the pool: "own" checks a connection out and back in around the step, "open" checks
# one out and keeps it, "keep" runs on the one the request already holds.
ConnectionUse = Literal["own", "open", "keep"]


@dataclass(frozen=True, slots=True)
class Step:
    """A piece of a request's time: `mean_ms` long with squared coefficient of variation `cv2`.

    `held_cpu_ms`: CPU run while the step holds its resource (a DB driver's work while it holds the
    connection), each piece a visit of its own to the core after the step's own time (reading a result
    that came back). In a token pass that is the thread's CPU; after an `async def` handler's turn, the
    loop's.
    """

    kind: StepKind
    mean_ms: float
    cv2: float
    held_cpu_ms: tuple[float, ...] = ()
    connection: ConnectionUse = "own"

    @property
    def hold_ms(self) -> float:
        """The step's own time and the CPU run within it (no waiting)."""
        return self.mean_ms + sum(self.held_cpu_ms)


@dataclass(frozen=True, slots=True)
class Phase:
    """A span holding one resource: the event loop, a thread token, or nothing (`holds=None`); or the exit of a
    generator dependency after the response ("exit": a thread of its own, no token), which checks the
    request's connection back in at its end."""

    holds: Literal["loop", "token", "exit"] | None
    steps: tuple[Step, ...]
    handoff_ms: float = 0.0

    @property
    def on_thread(self) -> bool:
        """Its CPU runs in a worker thread (a token pass or the exit), not on the loop."""
        return self.holds in ("token", "exit")

    @property
    def hold_ms(self) -> float:
        """Mean time the held resource is occupied, without any waiting inside the phase."""
        return sum(s.hold_ms for s in self.steps) + self.handoff_ms


# The round trips after which a DB step's driver needs the core again, by where it runs. An `async def`
# handler's one-query transaction suspends three times while it holds the connection (SQLAlchemy's async
# engine: BEGIN, the query, the ROLLBACK on return; asyncpg's pool: the query, the reset and the release's
# shielded task), each resumed by a turn of the loop (counted by bench/drivers.py). A thread's three round
# trips (psycopg sends BEGIN, the query, then ROLLBACK or COMMIT) cost it two waits for the core: with three
# the model put the hold 1.2 ms above the real server's at 0.8 of the pool (24.3 against 23.1 ms).
_DRIVER_PIECES = {"sync": 2, "async": 3}


def _db_step(endpoint: Endpoint, parts: int = 1, connection: ConnectionUse = "own") -> Step:
    """The DB step: the connection held for db_hold_ms, of which db_cpu_ms is the driver's CPU, in pieces
    after the round trips come back (`_DRIVER_PIECES`): a thread, or the loop, has to get the core back for
    each. The round trips' share keeps the hold's variance. With `parts` > 1, one of that many equal
    parts, each with its own driver pieces and a share 1 / parts of the variance."""
    hold, cv2 = endpoint.db_hold_ms, endpoint.db_hold_cv2_effective
    driver = endpoint.db_cpu_ms
    if driver <= 0:
        return Step("db", hold / parts, cv2 * parts, connection=connection)
    wire = hold - driver
    pieces = _DRIVER_PIECES[endpoint.handler]
    return Step(
        "db", wire / parts, cv2 * hold * hold / (wire * wire) * parts, (driver / pieces / parts,) * pieces,
        connection,
    )


def _query_passes(endpoint: Endpoint) -> range:
    """0-based indices of the token passes that carry a request-scoped session's queries: from the first use
    to the `def` body, or the first-use pass alone when that comes after the body (validation)."""
    first = endpoint.db_first_use_pass - 1
    body = endpoint.sync_dependencies
    return range(first, max(first, body) + 1)


def request_phases(endpoint: Endpoint, runtime: Runtime | None = None) -> tuple[Phase, ...]:
    """The phases of one request of `endpoint`, in order (see the module docstring)."""
    runtime = runtime or Runtime()
    handoff = runtime.token_handoff_ms
    passes = endpoint.token_passes
    spread = endpoint.cpu_ms - endpoint.db_cpu_ms  # the driver's part runs inside the DB step
    if endpoint.holds_connection_across_passes:
        passes += 1  # the exit takes a share like a pass
    if endpoint.loop_cpu_ms is None:
        loop_cpu = pass_cpu = spread / (1 + passes)
    else:
        loop_cpu = endpoint.loop_cpu_ms
        pass_cpu = (spread - loop_cpu) / passes if passes else 0.0

    other_io: list[Step] = []
    if endpoint.upstream_latency_ms > 0:
        for _ in range(endpoint.upstream_calls):
            other_io.append(Step("http", endpoint.upstream_latency_ms, endpoint.upstream_latency_cv2_effective))
    if endpoint.other_io_ms > 0:
        other_io.append(Step("io", endpoint.other_io_ms, endpoint.other_io_cv2_effective))
    io = ([_db_step(endpoint)] if endpoint.db_hold_ms > 0 else []) + other_io

    phases: list[Phase] = []
    if endpoint.handler == "sync" and endpoint.holds_connection_across_passes:
        return _request_scoped(endpoint, loop_cpu, pass_cpu, handoff, other_io)
    if endpoint.handler == "sync":
        phases.append(Phase("loop", _cpu(loop_cpu)))
        phases.extend(Phase("token", _cpu(pass_cpu), handoff) for _ in range(endpoint.sync_dependencies))
        phases.append(Phase("token", _cpu(pass_cpu) + tuple(io), handoff))
        if endpoint.response_model:
            phases.append(Phase("token", _cpu(pass_cpu), handoff))
    else:
        phases.extend(Phase("token", _cpu(pass_cpu), handoff) for _ in range(endpoint.sync_dependencies))
        block = (
            (Step("block", endpoint.blocking_in_async_ms, 0.0),) if endpoint.blocking_in_async_ms > 0 else ()
        )
        phases.append(Phase("loop", _cpu(loop_cpu) + block))
        if io:
            phases.append(Phase(None, tuple(io)))
            phases.append(Phase("loop", ()))
    return tuple(phases)


def _cpu(ms: float) -> tuple[Step, ...]:
    return (Step("cpu", ms, 0.0),) if ms > 0 else ()


def _request_scoped(
    endpoint: Endpoint, loop_cpu: float, pass_cpu: float, handoff: float, other_io: list[Step]
) -> tuple[Phase, ...]:
    """A `def` endpoint whose session keeps its connection from the first query to the generator's exit.

    The loop turn, then the token passes (the queries in `_query_passes`, the first of them checking the
    connection out, the body's other I/O in the body's pass), then the exit after the response, which
    checks the connection back in.
    """
    passes = endpoint.token_passes
    queries = _query_passes(endpoint)
    body = endpoint.sync_dependencies
    phases = [Phase("loop", _cpu(loop_cpu))]
    for i in range(passes):
        steps = _cpu(pass_cpu)
        if i in queries:
            steps += (_db_step(endpoint, len(queries), "open" if i == queries.start else "keep"),)
        if i == body:
            steps += tuple(other_io)
        phases.append(Phase("token", steps, handoff))
    phases.append(Phase("exit", _cpu(pass_cpu), handoff))
    return tuple(phases)


def before_response(phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
    """The phases up to the response: a request's latency (a generator's exit runs after it)."""
    return tuple(p for p in phases if p.holds != "exit")
