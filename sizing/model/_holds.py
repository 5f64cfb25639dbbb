"""How long a phase holds its resource with the waits inside it: the shared arithmetic of the worker's
stages (`sizing.model._worker`) and of the sessions held across passes (`sizing.model._sessions`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sizing.model._latency import Stall, Wait
from sizing.model._stage_queue import StageSolution
from sizing.scenario._lifecycle import Phase

__all__ = ["HeldWaits", "phase_moments", "stage_waits", "wait_var"]


@dataclass(frozen=True, slots=True)
class HeldWaits:
    """The waits of CPU run inside a held step (a DB driver's work), by where it runs: a thread waits for
    the core, an `async def` handler's driver waits for the loop and then the loop's turn on the core."""

    thread: list[Wait | Stall]
    loop: list[Wait | Stall]
    unstable: set[str]

    def of(self, phase: Phase) -> list[Wait | Stall]:
        return self.thread if phase.on_thread else self.loop

    def unbounded(self, phase: Phase) -> bool:
        return ("cpu" in self.unstable) or (not phase.on_thread and "loop" in self.unstable)


def stage_waits(db: StageSolution, http: StageSolution, held: HeldWaits) -> dict[str, Wait | Stall]:
    return {"cpu": held.thread[0], "db": db.wait, "http": http.wait}


def wait_var(w: Wait | Stall) -> float:
    return w.var_ms2


def phase_moments(
    phase: Phase, waits: dict[str, Wait | Stall], unstable: set[str], held: Sequence[Wait | Stall] = ()
) -> tuple[float, float]:
    """Mean and variance of how long the phase holds its resource, waits inside it included (infinite when
    one of its steps waits for a stage past saturation); `held` are the waits of each piece of CPU run
    inside a step."""
    mean, var = phase.handoff_ms, 0.0
    for step in phase.steps:
        mean += step.mean_ms
        var += step.cv2 * step.mean_ms**2
        inner = waits.get(step.kind) if step.connection != "keep" else None
        if inner is not None:
            if step.kind in unstable:
                return math.inf, math.inf
            mean += inner.mean_ms
            var += wait_var(inner)
        for ms in step.held_cpu_ms:
            if "cpu" in unstable:
                return math.inf, math.inf
            mean += ms + math.fsum(w.mean_ms for w in held)
            var += math.fsum(wait_var(w) for w in held)
    return mean, var
