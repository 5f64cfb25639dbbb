"""A real uvicorn server on 127.0.0.1: two load points against the model, and process cleanup."""

from __future__ import annotations

import math
import os
import signal
import sys
import time
import warnings

import pytest

from sizing._realserver import ValidationReport, _harness, validate
from sizing._realserver._measure import MAX_OTHER_CPU
from sizing._realserver._server import OwnedProcess, Server, group_alive, start_server
from sizing._scenario import Scenario

pytestmark = pytest.mark.server

TINY = Scenario.model_validate(
    {
        "traffic": {"rps": 10},
        "endpoints": [
            {
                "name": "def10",
                "share": 1.0,
                "handler": "sync",
                "cpu_ms": 2.5,
                "other_io_ms": 10.0,
                "other_io_cv2": 0.0,
            }
        ],
        "deployment": {"thread_tokens": 2},
    }
)


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_owned_process_is_stopped_on_exception() -> None:
    pid = 0
    with (
        pytest.raises(RuntimeError),
        OwnedProcess([sys.executable, "-c", "import time; time.sleep(60)"]) as p,
    ):
        pid = p.pid
        raise RuntimeError("boom")
    assert _gone(pid)


def test_server_is_stopped_after_an_exception_inside_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Server] = []

    def recording(*args: object, **kwargs: object) -> Server:
        server = start_server(*args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    def failing(*_a: object, **_k: object) -> None:
        assert started and started[0].proc.alive()
        raise RuntimeError("failure inside the run")

    monkeypatch.setattr(_harness, "start_server", recording)
    monkeypatch.setattr(_harness, "calibrate", failing)
    with pytest.raises(RuntimeError, match="failure inside the run"):
        validate(TINY, "0.5", seconds=1.0, ceiling=False)
    assert len(started) == 1
    assert _gone(started[0].proc.pid), "the uvicorn process group outlived the run"


def test_sigterm_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Server] = []

    def recording(*args: object, **kwargs: object) -> Server:
        server = start_server(*args, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    def terminated(*_a: object, **_k: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` of the CLI does
        time.sleep(5.0)

    monkeypatch.setattr(_harness, "start_server", recording)
    monkeypatch.setattr(_harness, "calibrate", terminated)
    with pytest.raises(KeyboardInterrupt):
        validate(TINY, "0.5", seconds=1.0, ceiling=False)
    assert _gone(started[0].proc.pid)


def _erlang_c_wait_ms(rate: float, hold_ms: float, c: int) -> float:
    """Mean wait of M/M/c: an upper bound for the constant service times emulated here (M/D/c)."""
    a = rate * hold_ms / 1000.0
    rho = a / c
    assert rho < 1
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait * hold_ms / (c - a)


@pytest.fixture(scope="module")
def ci_report() -> tuple[ValidationReport, float]:
    """Two load points of TINY on a real server, shared by the tests below (one run, about 35 s)."""
    t0 = time.monotonic()
    report = validate(
        TINY,
        "0.5,0.8",
        seconds=6.0,
        stage="thread_tokens",
        ceiling=False,
        retries=1,
        runtime="scenario",
        name="ci",
    )
    return report, time.monotonic() - t0


def _quiet(report: ValidationReport) -> bool:
    quiet = all(p.measured.other_cpu <= MAX_OTHER_CPU for p in report.points)
    if not quiet:
        # Other processes took CPU during the points: timing bands would test the neighbours, not the model.
        warnings.warn(f"machine busy, bands not checked:\n{report.to_table()}", stacklevel=2)
    return quiet


def test_two_load_points_measured(ci_report: tuple[ValidationReport, float]) -> None:
    report, elapsed = ci_report
    cal = report.calibration
    assert cal.handoff_ms_saturation is not None and 0.0 < cal.handoff_ms_saturation < 10.0
    assert 0.0 < cal.overhead_ms < 5.0
    quiet = _quiet(report)
    if quiet:
        assert elapsed < 60.0
    for p in report.points:
        m = p.measured
        assert m.errors == 0, m
        assert m.achieved_rps == pytest.approx(m.offered_rps, rel=0.15)
        # The token is held for the 10 ms body plus a hand-off of a few ms: measured by Little's law.
        assert m.token_hold_ms is not None and 10.0 <= m.token_hold_ms <= 20.0
        if not quiet:
            continue
        assert not m.generator_bound, m
        # The measured mean lies between the service time and an M/M/2 bound at the measured hold
        # (constant service times wait less than exponential ones).
        assert m.mean_ms is not None
        upper = (
            m.token_hold_ms
            + _erlang_c_wait_ms(m.achieved_rps, m.token_hold_ms, 2)
            + cal.cpu_ms_emulated["def10"]
            + cal.overhead_ms
        )
        assert 10.0 <= m.mean_ms <= upper * 1.1, (m.mean_ms, upper)


@pytest.mark.xfail(
    reason="known miss, issue 6 left open: a 6 s point at ~140 rps moves +-12% between runs on the 2-core VM "
    "(mean 25.5 vs 28.6 ms at 0.8, 2026-11-25), so a 10% band cannot be asserted reliably in a CI-sized run; "
    "and on 10 ms constant holds behind 2 tokens the model's p99 runs +19..22% high (exponential M/D/c tail)",
    strict=False,
)
@pytest.mark.parametrize("source", ["model", "simulator"])
def test_two_load_points_prediction_bands(ci_report: tuple[ValidationReport, float], source: str) -> None:
    report, _ = ci_report
    if not _quiet(report):
        pytest.skip("machine busy: other processes took CPU during the points")
    for p in report.points:
        pred = p.model if source == "model" else p.simulator
        assert pred is not None and pred.error is None, f"{source} prediction missing"
        assert p.verdicts[source] == "ok", (p.label, p.verdicts[source], report.to_table())
