"""The real backend, CI-sized: a DB-bound `def` endpoint on a private PostgreSQL through SQLAlchemy, two
load points (about a minute), the measured side asserted hard and the predictions against their bands.

16 tokens, a pool of 4, 20 ms asked of the database per request, 3 ms of CPU: the pool is the bottleneck.
"""

from __future__ import annotations

import os
import subprocess
import warnings

import pytest

from sizing.scenario import Scenario
from sizing.validation import ValidationReport, band_range, disturbance_reason, find_bindir, validate

pytestmark = [pytest.mark.server, pytest.mark.postgres]

DB_DEF = Scenario.model_validate(
    {
        "traffic": {"rps": 100},
        "endpoints": [
            {"name": "db def", "share": 1.0, "handler": "sync", "cpu_ms": 3.0, "db_hold_ms": 20.0, "db_hold_cv2": 0.0}
        ],
        "deployment": {"thread_tokens": 16, "db_pool_size": 4, "db_max_overflow": 0},
    }
)


def _need_postgres() -> None:
    """Skip without the PostgreSQL binaries, with the reason; under CI=true their absence fails the run."""
    if find_bindir() is None:
        why = "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {why}")
        pytest.skip(why)


def _ours(marker: str) -> list[str]:
    """Command lines of running processes that contain `marker`, this test's own pgrep left out."""
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


def _private_servers() -> list[str]:
    """Command lines of private PostgreSQL servers still running (their data directory is sizing-pg-*)."""
    out = subprocess.run(["pgrep", "-af", "sizing-pg-"], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "postgres" in line and "pgrep" not in line]


@pytest.fixture(scope="module")
def report() -> ValidationReport:
    _need_postgres()
    before = _private_servers()
    result = validate(DB_DEF, "0.5,0.7", seconds=8.0, stage="db_pool_sync", ceiling=False, retries=3,
                      backend="postgres", name="ci-postgres")
    assert _private_servers() == before, "a private PostgreSQL outlived the run"
    return result


def test_the_real_parts_are_measured(report: ValidationReport) -> None:
    backend = report.backend
    assert backend["kind"] == "postgres" and backend["db_pool"] == "sqlalchemy" and backend["server"] == "private"
    assert backend["settings"]["fsync"] == "off"  # a setting made only for speed is named
    step = report.calibration.db_step["sync"]
    # A DB step with nothing else running: a fraction of a millisecond to a few, most of it the driver.
    assert 0.1 < step["hold_ms"] < 5.0 and 0.0 < step["cpu_ms"] < step["hold_ms"]
    for p in report.points:
        m = p.measured
        assert m.errors == 0 and m.failures == {}, m
        assert m.achieved_rps == pytest.approx(m.offered_rps, rel=0.15)
        pool = m.pools["db_sync"]
        # Every request held a real connection longer than it asked PostgreSQL for.
        assert pool["steps"] >= 0.9 * m.count and pool["hold_ms"] > pool["asked_ms"] > 0
        assert m.db_activity, "pg_stat_activity showed none of the server's connections"
        assert sum(m.db_activity.values()) <= 4.0 + 1e-9  # never more connections than the pool's 4
        assert m.process_cpu["postgres"] > 0.0 and m.process_cpu["server"] > 0.0
    # Real pool waits at the busier point: requests queued for one of the 4 connections.
    busy = report.points[-1].measured.pools["db_sync"]
    assert busy["wait_ms"] > 0.1 and busy["waiting_mean"] > 0.0


def _unmeasurable(report: ValidationReport) -> str | None:
    why = [f"{p.label}: {r}" for p in report.points for r in (disturbance_reason(p.measured),
           p.measured.generator_bound and p.measured.generator_reason) if r]
    if why:
        warnings.warn(f"machine disturbed, bands not checked ({'; '.join(why)}):\n{report.to_table()}", stacklevel=2)
    return "; ".join(why) or None


@pytest.mark.parametrize("field", ["mean_ms", "p99_ms"])
def test_the_model_meets_its_bands_on_the_real_backend(report: ValidationReport, field: str) -> None:
    why = _unmeasurable(report)
    if why:
        pytest.skip(f"machine disturbed during every run of a point, bands not checked: {why}")
    for p in report.points:
        assert p.model is not None and p.model.error is None
        value, allowed = getattr(p.model, field), band_range(p.measured, field, ci=True, window=p.window)
        assert value is not None and allowed is not None
        assert allowed[0] <= value <= allowed[1], (p.label, field, value, allowed, report.to_table())


def test_validate_runs_end_to_end_on_a_server_the_user_runs(tmp_path: pytest.TempPathFactory) -> None:
    """`python -m sizing validate --backend postgres --database-url ...`: the command line as a user types
    it, against a server that outlives the run, where only a schema of its own was touched."""
    import json
    import sys

    import psycopg

    from sizing.validation import private_database

    _need_postgres()
    scenario, out = tmp_path / "db.json", tmp_path / "report.json"  # type: ignore[operator]
    scenario.write_text(DB_DEF.model_dump_json(), encoding="utf-8")
    with private_database(max_connections=30, reserved_connections=3) as server:
        done = subprocess.run(
            [sys.executable, "-m", "sizing", "validate", str(scenario), "--backend", "postgres",
             "--database-url", server.dsn, "--points", "40rps", "--seconds", "4", "--no-ceiling", "--retries", "0",
             "--out", str(out), "--quiet"],
            capture_output=True, text=True, timeout=240, check=False,
        )
        assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: a band missed on a short point; 3: it broke
        report = ValidationReport.model_validate(json.loads(out.read_text(encoding="utf-8")))
        assert report.backend["server"].startswith("database_url") and report.backend["kind"] == "postgres"
        (point,) = report.points
        assert point.measured.errors == 0 and point.measured.pools["db_sync"]["steps"] > 0
        with psycopg.connect(server.dsn) as conn:  # the user's server is still up, and our schema is gone
            schemas = [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")]
            assert not any(s.startswith("sizing_validate_") for s in schemas)


def test_sigterm_mid_run_stops_the_server_the_database_and_the_upstream() -> None:
    """`kill PID` of a run on the real backend with an upstream: the server, the private PostgreSQL and the
    upstream process are all gone when it returns."""
    import signal
    import time

    _need_postgres()
    mixed = Scenario.model_validate(
        {
            "traffic": {"rps": 50},
            "endpoints": [
                {"name": "orders", "share": 0.5, "handler": "sync", "cpu_ms": 3.0, "db_hold_ms": 10.0},
                {"name": "search", "share": 0.5, "handler": "async", "cpu_ms": 3.0, "upstream_calls": 1,
                 "upstream_latency_ms": 10.0},
            ],
            "deployment": {"thread_tokens": 8, "db_pool_size": 4},
        }
    )
    upstream = "sizing.validation.upstream"
    before = (_private_servers(), _ours(upstream))
    started: list[int] = []

    def terminated(line: str) -> None:
        if "server pid" in line:
            started.append(int(line.split("server pid ")[1].split()[0]))
            assert _private_servers() != before[0] and _ours(upstream) != before[1]  # both running now
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5.0)

    with pytest.raises(KeyboardInterrupt):
        validate(mixed, "0.5", seconds=2.0, ceiling=False, backend="postgres", progress=terminated)
    assert len(started) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(started[0], 0)
    assert (_private_servers(), _ours(upstream)) == before
