"""calibrate: a profile of an instrumented app becomes a scenario whose numbers are the app's own.

The app's work is known here (a def dependency, a body that burns CPU and sleeps, an async route), and the
profile comes from the probe on that app, driven in process at light load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from sizing_probe import instrument

import sizing
from sizing.calibration import calibrate
from sizing.scenario import InputError

BURN_MS, SLEEP_MS, N = 5.0, 10.0, 300


def _burn(ms: float) -> None:
    c0 = time.thread_time()
    while (time.thread_time() - c0) * 1000.0 < ms:
        pass


def profiled() -> dict[str, Any]:
    app = FastAPI()

    def dep() -> int:
        return 1

    @app.get("/work/{n}")
    def work(n: int, d: int = Depends(dep)) -> Response:
        _burn(BURN_MS)
        time.sleep(SLEEP_MS / 1000.0)
        return Response(b"ok")

    @app.get("/fast")
    async def fast() -> Response:
        return Response(b"ok")

    instrument(app)

    async def main() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(N):
                assert (await client.get(f"/work/{i}")).status_code == 200
                assert (await client.get("/fast")).status_code == 200
            return dict((await client.get("/_sizing/profile")).json())

    return dict(anyio.run(main))


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    return profiled()


def test_the_scenario_has_the_apps_routes_and_work(profile: dict[str, Any]) -> None:
    cal = calibrate([profile], rps=50.0)
    s = cal.scenario
    by_name = {e.name: e for e in s.endpoints}
    work, fast = by_name["/work/{n}"], by_name["/fast"]
    assert work.share == pytest.approx(0.5) and fast.share == pytest.approx(0.5)
    assert work.handler == "sync" and fast.handler == "async"
    assert work.sync_dependencies == 1 and fast.sync_dependencies == 0  # the dependency and the body: 2 passes
    assert work.loop_cpu_ms is not None
    threads = work.cpu_ms - work.loop_cpu_ms
    assert BURN_MS <= threads <= BURN_MS + 1.0  # the burn, and FastAPI's own work in the two passes
    assert work.other_io_ms == pytest.approx(SLEEP_MS, rel=0.2)
    assert work.db_hold_ms == 0.0 and work.db_connection_scope == "pass"
    assert s.traffic.rps == 50.0 and cal.provenance["traffic.rps"] == "given"
    assert cal.provenance["endpoints[1].cpu_ms"].startswith("estimated")
    assert any("one load level" in w for w in cal.warnings)


def test_evaluate_takes_the_calibrated_scenario(profile: dict[str, Any]) -> None:
    ev = sizing.evaluate(calibrate([profile], rps=20.0).scenario)
    assert ev.stable and ev.overall.mean_ms is not None


def test_bad_profiles_are_named() -> None:
    with pytest.raises(InputError, match=r"profiles\[0\].*sizing-profile/1"):
        calibrate([{"format": "something else", "routes": {}}])
    with pytest.raises(InputError, match="no route has any request"):
        calibrate([{"format": "sizing-profile/1", "routes": {}}])
    with pytest.raises(TypeError, match="non-empty list"):
        calibrate([])
    with pytest.raises(ValueError, match="rps"):
        calibrate([{"format": "sizing-profile/1", "routes": {}}], rps=-1.0)


def test_the_cli_prints_the_scenario_and_the_provenance(profile: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(profile))
    prov = tmp_path / "prov.json"
    out = subprocess.run(
        [sys.executable, "-m", "sizing", "calibrate", str(path), "--rps", "40", "--provenance", str(prov)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    scenario = sizing.Scenario.model_validate_json(out.stdout)
    assert scenario.traffic.rps == 40.0 and len(scenario.endpoints) == 2
    assert "warning: one load level" in out.stderr
    assert json.loads(prov.read_text())["endpoints[0].share"].startswith("measured")
    bad = subprocess.run([sys.executable, "-m", "sizing", "calibrate", str(tmp_path / "missing.json")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no such file" in bad.stderr and bad.stdout == ""
