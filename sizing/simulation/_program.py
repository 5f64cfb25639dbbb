"""A worker process compiled for the event engine: resources, and per request class a flat program.

A request's phases (sizing/_lifecycle.py) become a list of instructions: ACQUIRE a resource (FIFO, may
wait), DELAY (one event), RELEASE, and a final END. A loop phase is ACQUIRE loop .. RELEASE loop; a token
pass is ACQUIRE token .. hand-off .. RELEASE token, and the next pass's ACQUIRE comes right after, so it
rejoins the back of the queue; a `cpu` step is ACQUIRE cpu, DELAY, RELEASE cpu, nested in whatever the
phase holds; `db` and `http` steps hold a pool connection for their delay and for any CPU held inside
them (a driver's: on the core from a thread, a turn of the loop after an `async def` turn); `io` and `block` are bare
delays (block sits inside the loop phase, so it holds the loop but not the CPU). Adjacent delays merge
into one event. A loop phase that ends on a `cpu` step releases the loop before the CPU, so the engine can
hand the core straight to the next loop turn (see _worker).
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
    "DELAY",
    "END",
    "LOOP",
    "N_RESOURCES",
    "RELEASE",
    "STAGES",
    "TOKEN",
    "ClassProgram",
    "WorkerSpec",
    "compile_worker",
]

LOOP, CPU, TOKEN, DB, HTTP = range(5)
N_RESOURCES = 5
STAGES: tuple[StageName, ...] = ("event_loop", "cpu", "thread_tokens", "db_pool", "http_pool")
ACQUIRE, RELEASE, DELAY, END = 0, 1, 2, 3
# An instruction is one int, code | arg << 2: the engine decodes it with two cheap integer operations.
_ARG_SHIFT = 2
_STEP_RESOURCE = {"cpu": CPU, "db": DB, "http": HTTP}

SamplerFor = Callable[[str, Step], Sampler]


@dataclass(frozen=True, slots=True)
class ClassProgram:
    name: str
    share: float
    code: tuple[int, ...]
    visits: tuple[int, ...]  # ACQUIREs of each resource per request


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything one replication needs: arrivals (per ms), classes, capacities and the delay samplers."""

    arrival: Sampler
    classes: tuple[ClassProgram, ...]
    capacity: tuple[int, ...]
    samplers: tuple[Sampler, ...]

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
) -> WorkerSpec:
    """Compile (name, share, phases) classes; `sampler_for(class_name, step)` gives each step's law."""
    samplers: list[Sampler] = []
    programs = []
    for name, share, phases in classes:
        b = _Builder(samplers)
        for phase in phases:
            held = {"loop": LOOP, "token": TOKEN}.get(phase.holds or "")
            if held is not None:
                b.acquire(held)
            # A loop turn that ends on the CPU lets go of the loop first: the next turn is handed the core
            # at the same instant (the engine runs it before this request goes on), as CPython's loop keeps
            # the GIL from one callback to the next.
            keeps_core = held == LOOP and bool(phase.steps) and phase.steps[-1].kind == "cpu"
            last = len(phase.steps) - 1
            for i, step in enumerate(phase.steps):
                resource = _STEP_RESOURCE.get(step.kind)
                if resource is not None:
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
        b.flush()
        b.code.append(END)  # a sentinel: the engine never compares the program counter with the length
        visits = tuple(b.code.count(_op(ACQUIRE, r)) for r in range(N_RESOURCES))
        programs.append(ClassProgram(name, float(share), tuple(b.code), visits))
    arrival = arrival_sampler(1.0 / rate_per_ms, arrival_cv2)
    return WorkerSpec(arrival, tuple(programs), tuple(capacity), tuple(samplers))
