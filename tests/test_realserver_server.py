"""A real uvicorn server on 127.0.0.1: two load points against the model, and process cleanup."""

from __future__ import annotations

import math
import os
import re
import signal
import sys
import time
import warnings

import pytest

from sizing.scenario import Scenario
from sizing.validation import (
    OwnedProcess,
    ValidationReport,
    band_range,
    disturbance_reason,
    group_alive,
    start_server,
    validate,
)

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


def test_configure_reaches_every_worker_process() -> None:
    """uvicorn --workers 2: each /_config goes on a new connection until both processes have answered (a
    keep-alive connection always lands on the same one), and both then report the setting."""
    two = TINY.model_copy(update={"deployment": TINY.deployment.model_copy(update={"workers_per_host": 2})})
    server = start_server(two, seed=3)
    try:
        answers = server.configure(tokens=3, control={"enabled": False, "factor": 1.25})
        assert len({a["pid"] for a in answers}) == 2
        assert all(a["burn_factor"] == 1.25 for a in answers)
    finally:
        server.stop()
    assert _gone(server.proc.pid)


def test_owned_process_is_stopped_on_exception() -> None:
    pid = 0
    with (
        pytest.raises(RuntimeError),
        OwnedProcess([sys.executable, "-c", "import time; time.sleep(60)"]) as p,
    ):
        pid = p.pid
        raise RuntimeError("boom")
    assert _gone(pid)


def _server_pid(line: str) -> int | None:
    found = re.search(r"server pid (\d+)", line)
    return int(found.group(1)) if found else None


def test_server_is_stopped_after_an_exception_inside_the_run() -> None:
    """A failure once the server runs (here the progress callback raising, as a caller's code may) stops it."""
    started: list[int] = []

    def failing(line: str) -> None:
        pid = _server_pid(line)
        if pid is not None:
            started.append(pid)
            assert group_alive(pid)
            raise RuntimeError("failure inside the run")

    with pytest.raises(RuntimeError, match="failure inside the run"):
        validate(TINY, "0.5", seconds=1.0, ceiling=False, progress=failing)
    assert len(started) == 1
    assert _gone(started[0]), "the uvicorn process group outlived the run"


def test_sigterm_stops_the_server() -> None:
    started: list[int] = []

    def terminated(line: str) -> None:
        pid = _server_pid(line)
        if pid is not None:
            started.append(pid)
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill PID` of the CLI does
            time.sleep(5.0)

    with pytest.raises(KeyboardInterrupt):
        validate(TINY, "0.5", seconds=1.0, ceiling=False, progress=terminated)
    assert len(started) == 1
    assert _gone(started[0])


def _erlang_c_wait_ms(rate: float, hold_ms: float, c: int) -> float:
    """Mean wait of M/M/c: an upper bound for the constant service times emulated here (M/D/c)."""
    a = rate * hold_ms / 1000.0
    rho = a / c
    assert rho < 1
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait * hold_ms / (c - a)


# Two points on TINY, 600-850 requests each in the steady window. Measured on the 2-core VM (2026-11-25,
# 4 repeats each of 0.5/0.8 at 6 s, 0.5/0.7 at 8 s, and both on 4 tokens x 20 ms): a point's mean moves
# between runs by up to 4% at 0.5 and 9% at 0.7, and by up to 32% at 0.8, where one run in eight had a long
# queue excursion (mean 42 against 32 ms, p99 146 against 75-78 ms) whose p99 no 6 s interval covers; so the
# points are 0.5 and 0.7. Each point's 95% batch-means interval (`mean_ci_ms`) contained the mean over the
# repeats in 31 of the 32 point runs (the other: 14.5 +- 0.5 against 15.1 ms).
CI_POINTS = "0.5,0.7"
CI_SECONDS = 8.0


@pytest.fixture(scope="module")
def ci_report() -> tuple[ValidationReport, float]:
    """Two load points of TINY on a real server, shared by the tests below (one run, about 45 s).

    A point disturbed by other processes or the hypervisor (see `disturbance_reason`), or whose generator sent
    late, is repeated, up to three times: on a VM with bursts of scheduling delay (an AnyIO to_thread round
    trip of 2.4 ms at p99) one repeat was not always enough.
    """
    t0 = time.monotonic()
    report = validate(
        TINY,
        CI_POINTS,
        seconds=CI_SECONDS,
        stage="thread_tokens",
        ceiling=False,
        retries=3,
        runtime="scenario",
        name="ci",
    )
    return report, time.monotonic() - t0


def _unmeasurable(report: ValidationReport) -> str | None:
    """Why the points' timing is not the server's even after the repeats, or None.

    Other processes' CPU or hypervisor steal (the host's other tenants: on 2026-12-02 this VM had 0.15-0.7
    cores stolen, against <= 0.005 in the stored sweeps, and the same point's mean doubled), or a generator
    that sent late. Such points test the neighbours, not the model, so their bands are not checked; the
    reason and the table reach the test report.
    """
    why = [
        f"{p.label}: {reason}"
        for p in report.points
        for reason in (disturbance_reason(p.measured), p.measured.generator_bound and p.measured.generator_reason)
        if reason
    ]
    if not why:
        return None
    message = "; ".join(why)
    warnings.warn(f"machine disturbed, bands not checked ({message}):\n{report.to_table()}", stacklevel=2)
    return message


def test_two_load_points_measured(ci_report: tuple[ValidationReport, float]) -> None:
    report, elapsed = ci_report
    cal = report.calibration
    assert cal.handoff_ms_saturation is not None and 0.0 < cal.handoff_ms_saturation < 10.0
    assert 0.0 < cal.overhead_ms < 5.0
    # The framework CPU is calibrated at each point's rate before the points, and the burn follows it.
    assert len(cal.framework_mix_ms_at) == 2
    assert all(p.burn_plan_ms is not None for p in report.points)
    quiet = _unmeasurable(report) is None
    if quiet and all(p.measured.attempts == 1 for p in report.points):
        # Bounded, not timed: 16 s of schedule, the calibrations and the drains took 40-63 s on the 2-core
        # VMs; a run past 3 minutes would mean calibrations or points running more than once.
        assert elapsed < 180.0
    for p in report.points:
        m = p.measured
        assert m.errors == 0, m
        assert m.achieved_rps == pytest.approx(m.offered_rps, rel=0.15)
        # The token is held for the 10 ms body plus a hand-off of a few ms: measured by Little's law.
        assert m.token_hold_ms is not None and 10.0 <= m.token_hold_ms <= 20.0
        # The server's control held a request's CPU at the scenario's (full GC pauses aside, a few per cent).
        assert m.cpu_per_request_ms == pytest.approx(cal.cpu_ms_emulated["def10"], rel=0.06), m
        assert m.burn_factor is not None and m.shed == 0
        # Every point carries its own statistical uncertainty (batch means over its requests).
        assert m.mean_ci_ms is not None and m.mean_ci_ms > 0.0
        assert m.p99_ci_ms is not None and m.p99_ci_ms[0] <= (m.p99_ms or 0.0) <= m.p99_ci_ms[1]
        if not quiet:
            continue
        # A quiet point pins its mean down (host steal of 0.4 cores once left +-23 ms on a 56 ms mean).
        assert m.mean_ci_ms < 0.5 * (m.mean_ms or 0.0)
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


def _check_band(report: ValidationReport, source: str, field: str) -> None:
    why = _unmeasurable(report)
    if why:
        pytest.skip(f"machine disturbed during every run of a point, bands not checked: {why}")
    for p in report.points:
        pred = p.model if source == "model" else p.simulator
        assert pred is not None and pred.error is None, f"{source} prediction missing"
        value, allowed = getattr(pred, field), band_range(p.measured, field, ci=True, window=p.window)
        assert value is not None and allowed is not None
        assert allowed[0] <= value <= allowed[1], (p.label, field, value, allowed, report.to_table())


@pytest.mark.parametrize("source", ["model", "simulator"])
def test_two_load_points_mean_band(ci_report: tuple[ValidationReport, float], source: str) -> None:
    """The predicted mean is within the bar's 10% of the measured mean, widened by the point's own 95%
    statistical uncertainty: |predicted - measured| <= 0.10 x measured + mean_ci_ms, where mean_ci_ms is the
    batch-means half-width (10 consecutive batches of the point's requests, Student t with 9 dof)."""
    _check_band(ci_report[0], source, "mean_ms")


@pytest.mark.parametrize("source", ["model", "simulator"])
def test_two_load_points_p99_band(ci_report: tuple[ValidationReport, float], source: str) -> None:
    """The predicted p99 is within the bar's 20% of the measured p99, widened by the point's own 95%
    interval for the p99: p99_ci_ms low - 0.20 x measured <= predicted <= p99_ci_ms high + 0.20 x measured,
    the interval from batch means of the fraction of requests above the measured p99.

    The model's p99 on these constant 10 ms holds behind 2 tokens runs high: +11..25% at 0.5 and -8..+23% at
    0.7 over 7 runs (model of 61dd69a; the simulator's p99 at 0.5 is the same 32.2 ms, so that part of the
    miss is the scenario's description of the request, not the M/D/c tail); +24..33% and +18..32% with the
    model before 61dd69a, which sat at the edge of this widened band."""
    _check_band(ci_report[0], source, "p99_ms")


def test_a_pinned_run_puts_the_server_on_its_own_cpus_and_undoes_the_pin() -> None:
    """`pin=True`: this process (and so what it starts) moves to the CPUs the server does not get, a child
    started with `cpus` runs on those, and the old affinity is back after the block."""
    from sizing.validation import pinned_cpus

    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip(f"pinning needs two CPUs, this process may use {sorted(before)}")
    with pinned_cpus(1, pin=True) as cpus:
        assert cpus is not None
        server, others = cpus
        assert len(server) == 1 and server | others == before and not server & others
        assert os.sched_getaffinity(0) == others
        with OwnedProcess([sys.executable, "-c", "import time; time.sleep(30)"], cpus=server) as child:
            assert os.sched_getaffinity(child.pid) == server
        with OwnedProcess([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
            assert os.sched_getaffinity(child.pid) == others  # inherited
    assert os.sched_getaffinity(0) == before
    with pinned_cpus(1, pin=False) as none:
        assert none is None and os.sched_getaffinity(0) == before
    refused = r"'pin' needs more CPUs than the deployment's workers_per_host"
    with pytest.raises(ValueError, match=refused), pinned_cpus(len(before), pin=True):
        pass
    assert os.sched_getaffinity(0) == before
