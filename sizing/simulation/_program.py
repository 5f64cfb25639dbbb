"""A worker process compiled for the event engine: resources, and per request class a flat program.

A request's phases (sizing/_lifecycle.py) become a list of instructions: ACQUIRE a resource (FIFO, may
wait), DELAY (one event), RELEASE, RESPOND (the response goes out: the latency ends here) and a final END
(the request leaves the worker; a request-scoped session's exit runs between the two). A loop phase is
ACQUIRE loop .. RELEASE loop; a token pass is ACQUIRE token .. hand-off .. RELEASE token, and the next
pass's ACQUIRE comes right after, so it rejoins the back of the queue; a `cpu` step is ACQUIRE cpu,
DELAY, RELEASE cpu, nested in whatever the phase holds; `db` and `http` steps hold a pool connection for
their delay and for any CPU held inside them (a driver's: on the core from a thread, a turn of the loop
after an `async def` turn); `io` and `block` are bare delays (block sits inside the loop phase, so it
holds the loop but not the CPU). Adjacent delays merge into one event. A loop phase that ends on a `cpu`
step releases the loop before the CPU, so the engine can hand the core straight to the next loop turn
(see _worker).

A DB connection is checked out and in around its step, or, for a session held for the whole request,
checked out by the step that opens it and in at the end of the exit. Every DB ACQUIRE has an abort path
after the END, for a checkout that waits past the pool's timeout: FAIL (a 500), RELEASE of the token the
waiting pass holds, END.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sizing.model._results import StageName
from sizing.scenario._lifecycle import Phase, Step
from sizing.simulation._distributions import Sampler, arrival_sampler, sum_sampler

__all__ = [
    "ACQUIRE",
    "CPU",
    "DB",
    "DELAY",
    "END",
    "FAIL",
    "LOOP",
    "N_RESOURCES",
    "OP_SHIFT",
    "RELEASE",
    "RESPOND",
    "STAGES",
    "TOKEN",
    "ClassProgram",
    "WorkerSpec",
    "compile_worker",
]

# SESSION: FastAPI's max_concurrency on a request-scoped session's dependency (not reported as a stage).
LOOP, CPU, TOKEN, DB, HTTP, SESSION = range(6)
N_RESOURCES = 6
STAGES: tuple[StageName, ...] = ("event_loop", "cpu", "thread_tokens", "db_pool", "http_pool")
ACQUIRE, RELEASE, DELAY, END, RESPOND, FAIL = 0, 1, 2, 3, 4, 5
# An instruction is one int, code | arg << 3: the engine decodes it with two cheap integer operations.
OP_SHIFT = 3
_ARG_SHIFT = OP_SHIFT
_STEP_RESOURCE = {"cpu": CPU, "db": DB, "http": HTTP}
_UNLIMITED = 2**62

SamplerFor = Callable[[str, Step], Sampler]


@dataclass(frozen=True, slots=True)
class ClassProgram:
    name: str
    share: float
    code: tuple[int, ...]
    visits: tuple[int, ...]  # ACQUIREs of each resource per request
    # For each DB ACQUIRE, keyed by the program counter after it: where its abort path starts.
    aborts: dict[int, int]
    # The program counters after the DB ACQUIREs made while holding a thread token.
    token_checkouts: frozenset[int]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything one replication needs: arrivals (per ms), classes, capacities and the delay samplers."""

    arrival: Sampler
    classes: tuple[ClassProgram, ...]
    capacity: tuple[int, ...]
    samplers: tuple[Sampler, ...]
    db_timeout_ms: float = float("inf")

    @property
    def rate_per_ms(self) -> float:
        return 1.0 / self.arrival.mean

    def offered_visits_per_ms(self, resource: int) -> float:
        return self.rate_per_ms * sum(c.share * c.visits[resource] for c in self.classes)


def _op(code: int, arg: int) -> int:
    return code | (arg << _ARG_SHIFT)


class _Builder:
    """Emits one class's instructions, merging consecutive delays into one event."""

    def __init__(self, samplers: list[Sampler]) -> None:
        self.samplers = samplers
        self.code: list[int] = []
        self._pending: list[Sampler] = []
        self.checkouts: list[tuple[int, bool]] = []  # (pc after a DB ACQUIRE, holds a token there)

    def delay(self, law: Sampler) -> None:
        self._pending.append(law)

    def flush(self) -> None:
        merged = sum_sampler(self._pending)
        self._pending.clear()
        if merged.family == "constant" and merged.mean == 0.0:
            return
        self.samplers.append(merged)
        self.code.append(_op(DELAY, len(self.samplers) - 1))

    def acquire(self, resource: int) -> None:
        self.flush()
        self.code.append(_op(ACQUIRE, resource))

    def release(self, resource: int) -> None:
        self.flush()
        self.code.append(_op(RELEASE, resource))

    def mark(self, code: int) -> None:
        self.flush()
        self.code.append(code)

    def checkout(self, holds_token: bool) -> None:
        """ACQUIRE a DB connection, noting where the checkout waits with a token held."""
        self.acquire(DB)
        self.checkouts.append((len(self.code), holds_token))


def _held_cpu(b: _Builder, phase: Phase, ms: float) -> None:
    """CPU run inside a held step: a thread's on the core; after an `async def` turn, a turn of the loop."""
    on_loop = phase.holds is None
    if on_loop:
        b.acquire(LOOP)
    b.acquire(CPU)
    b.delay(Sampler("constant", ms, 0.0))
    b.release(CPU)
    if on_loop:
        b.release(LOOP)


def compile_worker(
    rate_per_ms: float,
    arrival_cv2: float,
    classes: Sequence[tuple[str, float, Sequence[Phase]]],
    capacity: Sequence[int],
    sampler_for: SamplerFor,
    db_timeout_ms: float = float("inf"),
    session_limit: int | None = None,
) -> WorkerSpec:
    """Compile (name, share, phases) classes; `sampler_for(class_name, step)` gives each step's law; a
    checkout that waits `db_timeout_ms` fails its request. `capacity` is per resource (LOOP, CPU, TOKEN,
    DB, HTTP); with `session_limit`, a request whose session spans its passes takes one of that many
    session slots before its first pass (waiting holds nothing) and gives it back at the end of its exit."""
    samplers: list[Sampler] = []
    programs = []
    for name, share, phases in classes:
        b = _Builder(samplers)
        has_exit = any(p.holds == "exit" for p in phases)
        limited = session_limit is not None and has_exit
        first_pass = next((i for i, p in enumerate(phases) if p.holds == "token"), -1)
        for i, phase in enumerate(phases):
            if limited and i == first_pass:
                b.acquire(SESSION)
            if phase.holds == "exit":
                b.mark(RESPOND)
            _phase(b, phase, sampler_for, name)
            if phase.holds == "exit":
                b.release(DB)
                if limited:
                    b.release(SESSION)
        if not has_exit:
            b.mark(RESPOND)
        b.flush()
        b.code.append(END)  # a sentinel: the engine never compares the program counter with the length
        visits = tuple(b.code.count(_op(ACQUIRE, r)) for r in range(N_RESOURCES))
        aborts = {}
        for pc, holds_token in b.checkouts:
            aborts[pc] = len(b.code)
            b.code.append(FAIL)
            if holds_token:
                b.code.append(_op(RELEASE, TOKEN))
            b.code.append(END)
        token_checkouts = frozenset(pc for pc, holds_token in b.checkouts if holds_token)
        programs.append(ClassProgram(name, float(share), tuple(b.code), visits, aborts, token_checkouts))
    arrival = arrival_sampler(1.0 / rate_per_ms, arrival_cv2)
    sessions = session_limit if session_limit is not None else _UNLIMITED
    caps = (*tuple(capacity)[:SESSION], sessions)
    return WorkerSpec(arrival, tuple(programs), caps, tuple(samplers), db_timeout_ms)


def _phase(b: _Builder, phase: Phase, sampler_for: SamplerFor, name: str) -> None:
    held = {"loop": LOOP, "token": TOKEN}.get(phase.holds or "")
    if held is not None:
        b.acquire(held)
    # A loop turn that ends on the CPU lets go of the loop first: the next turn is handed the core at the
    # same instant (the engine runs it before this request goes on), as CPython's loop keeps the GIL from
    # one callback to the next.
    keeps_core = held == LOOP and bool(phase.steps) and phase.steps[-1].kind == "cpu"
    last = len(phase.steps) - 1
    for i, step in enumerate(phase.steps):
        resource = _STEP_RESOURCE.get(step.kind)
        if resource == DB:
            if step.connection != "keep":
                b.checkout(held == TOKEN)
            if step.connection != "own":
                resource = None  # a request-scoped connection: back in at the exit's end, not here
        elif resource is not None:
            b.acquire(resource)
        b.delay(sampler_for(name, step))
        for ms in step.held_cpu_ms:
            _held_cpu(b, phase, ms)
        if resource is not None and not (keeps_core and i == last):
            b.release(resource)
    if phase.handoff_ms > 0:
        b.delay(Sampler("constant", phase.handoff_ms, 0.0))
    if held is not None:
        b.release(held)
    if keeps_core:
        b.release(CPU)
