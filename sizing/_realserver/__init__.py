"""Validation against a real FastAPI server under uvicorn (private; public names are in `sizing`).

Importing this package stays light (pydantic only): fastapi, uvicorn, httpx and numpy load when
`validate` runs, so `import sizing` does not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sizing._realserver._report import ValidationReport
from sizing._scenario import Scenario

__all__ = ["ValidationReport", "validate"]


def validate(
    scenario: Scenario,
    points: str | Sequence[float] = "0.5,0.8,1.2",
    *,
    seconds: float = 20.0,
    stage: str = "bottleneck",
    seed: int = 1,
    max_requests: int = 100_000,
    ceiling: bool = True,
    runtime: str = "scenario",
    retries: int = 2,
    generators: int = 1,
    name: str = "scenario",
    overload: str = "shed",
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Run the scenario's load points on a real uvicorn server on 127.0.0.1; measured against predicted.

    `points` are fractions of the nominal capacity of `stage` ("bottleneck" = the lowest, or a stage name such
    as "thread_tokens"), or a string such as "0.5,0.8,1.2" or "300rps,640rps". Each point runs `seconds` of
    open-loop Poisson schedule (at most `max_requests`); a point disturbed by other processes, hypervisor
    steal or a late load generator is repeated up to `retries` times. Predictions use the scenario's runtime
    constants, or with `runtime="measured"` the token hand-off calibrated on this server. Below capacity the
    server holds each request's CPU at the scenario's `cpu_ms` (a control loop scales its burns); past
    capacity, with `overload="shed"`, it answers 503 beyond a bounded backlog as uvicorn's --limit-concurrency
    would, so the completion rate measured is its capacity; `overload="queue"` lets the backlog grow for the
    whole point (CPython's collector then slows the server as it goes on). Raises ValueError for a scenario
    the emulation cannot run. The server and generators it starts are always stopped, also on error and on
    SIGTERM/Ctrl-C.
    """
    from sizing._realserver._harness import validate as run

    return run(
        scenario,
        points,
        seconds=seconds,
        stage=stage,
        seed=seed,
        max_requests=max_requests,
        ceiling=ceiling,
        runtime=runtime,
        retries=retries,
        generators=generators,
        name=name,
        overload=overload,
        progress=progress,
    )
