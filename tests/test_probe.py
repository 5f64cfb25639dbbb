"""The probe on an instrumented FastAPI app, driven in process through httpx's ASGI transport.

References computed here, not by the probe: the passes FastAPI makes (a `def` dependency, a `def` body, and
response validation of a `def` endpoint with a response model, each a pass; an `async def` endpoint's `def`
dependency one), the CPU a route burns as the route itself reads its thread's clock, and the token waits of
requests queued FIFO behind one token (request k waits for the k before it).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from pydantic import BaseModel
from sizing_probe import MAX_ROUTES, PROFILE_FORMAT, instrument

BURN_MS = 20.0
SLEEP_MS = 40.0


class Item(BaseModel):
    n: int


def burn(ms: float) -> float:
    """Burn about `ms` of this thread's CPU; return what the thread's clock says it took."""
    c0 = time.thread_time()
    while (time.thread_time() - c0) * 1000.0 < ms:
        pass
    return (time.thread_time() - c0) * 1000.0


def make_app() -> tuple[FastAPI, dict[str, list[float]], Any]:
    app = FastAPI()
    seen: dict[str, list[float]] = {"cpu": []}

    def dep_a() -> int:
        return 1

    def dep_b(a: int = Depends(dep_a)) -> int:
        return a + 1

    @app.get("/items/{item_id}", response_model=Item)
    def get_item(item_id: int, b: int = Depends(dep_b)) -> dict[str, int]:
        seen["cpu"].append(burn(BURN_MS))
        return {"n": item_id + b}

    @app.get("/sleepy")
    def sleepy() -> Response:  # a Response: no response field, so no validation pass
        time.sleep(SLEEP_MS / 1000.0)
        return Response(b"ok")

    @app.get("/async")
    async def async_route(a: int = Depends(dep_a)) -> dict[str, int]:
        await asyncio.sleep(0)
        return {"a": a}

    recorder = instrument(app)
    return app, seen, recorder


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await client.get(path)


def run(coro: Any) -> Any:
    return anyio.run(lambda: coro)


@pytest.fixture()
def probed() -> tuple[dict[str, Any], dict[str, list[float]]]:
    app, seen, _ = make_app()

    async def main() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(5):
                assert (await client.get(f"/items/{i}?secret=x")).status_code == 200
            for _ in range(3):
                assert (await client.get("/async")).status_code == 200
            anyio.to_thread.current_default_thread_limiter().total_tokens = 1
            results = await asyncio.gather(*(client.get("/sleepy") for _ in range(4)))
            assert all(r.status_code == 200 for r in results)
            profile = (await client.get("/_sizing/profile")).json()
        return dict(profile)

    return anyio.run(main), seen


def test_profile_names_routes_by_template_and_kind(probed: tuple[dict[str, Any], Any]) -> None:
    profile, _ = probed
    assert profile["format"] == PROFILE_FORMAT and profile["probe_errors"] == 0
    routes = profile["routes"]
    assert set(routes) == {"/items/{item_id}", "/async", "/sleepy"}  # templates, not raw paths
    assert routes["/items/{item_id}"]["handler"] == "sync" and routes["/async"]["handler"] == "async"
    assert "secret" not in str(profile)


def test_passes_per_request_follow_fastapi(probed: tuple[dict[str, Any], Any]) -> None:
    routes = probed[0]["routes"]
    # two def dependencies, the def body, response validation
    assert routes["/items/{item_id}"]["passes"] == 5 * 4
    assert routes["/async"]["passes"] == 3 * 1
    assert routes["/sleepy"]["passes"] == 4


def test_thread_cpu_is_the_routes_own(probed: tuple[dict[str, Any], dict[str, list[float]]]) -> None:
    profile, seen = probed
    route = profile["routes"]["/items/{item_id}"]
    own = sum(seen["cpu"])
    assert own >= 5 * BURN_MS
    # the probe's clock spans the whole pass: the burn plus FastAPI's own work in the threads
    assert own <= route["thread_cpu_ms"] <= own + 5 * 4 * 2.0


def test_token_waits_queue_fifo_behind_one_token(probed: tuple[dict[str, Any], Any]) -> None:
    route = probed[0]["routes"]["/sleepy"]
    waits = route["token_wait_ms"]
    assert waits["count"] == 4
    # four requests at once behind one token, each holding it SLEEP_MS: waits 0, 1, 2, 3 sleeps
    expected = SLEEP_MS * (0 + 1 + 2 + 3)
    assert expected * 0.95 <= waits["sum_ms"] <= expected * 1.25
    assert route["response_ms"]["count"] == 4


def test_the_apps_errors_pass_through_and_nothing_is_kept_of_them() -> None:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the app's own error")

    recorder = instrument(app)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/boom")).status_code == 500

    anyio.run(main)
    profile = recorder.profile()
    assert profile["probe_errors"] == 0
    assert profile["routes"]["/boom"]["server_errors"] == 1


def test_distinct_routes_are_capped() -> None:
    app = FastAPI()
    extra = 20
    for i in range(MAX_ROUTES + extra):
        app.add_api_route(f"/r{i}", lambda: Response(b"ok"), methods=["GET"])
    recorder = instrument(app)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for i in range(MAX_ROUTES + extra):
                assert (await client.get(f"/r{i}")).status_code == 200

    anyio.run(main)
    routes = recorder.profile()["routes"]
    assert len(routes) == MAX_ROUTES + 1 and routes["(other)"]["requests"] == extra


@pytest.mark.parametrize(("kwargs", "error"), [({"prefix": "x"}, ValueError), ({"serve": 1}, TypeError)])
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match=next(iter(kwargs))):
        instrument(FastAPI(), **kwargs)


def test_the_probe_brings_nothing_heavy() -> None:
    """Its distribution depends on Starlette and AnyIO only, and instrumenting an app loads no numpy,
    scipy, pydantic-free extras, streamlit or plotly, nor the sizing package."""
    import subprocess
    import sys
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "probe" / "pyproject.toml").read_text())
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in meta["project"]["dependencies"]}
    assert names == {"starlette", "anyio"}
    code = (
        "import sys\nfrom starlette.applications import Starlette\nimport sizing_probe\n"
        "sizing_probe.instrument(Starlette())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'streamlit', 'plotly', 'sizing'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.server
def test_workers_share_one_profile_under_uvicorn(tmp_path: Any) -> None:
    """uvicorn --workers 2 with a shared directory: the profile counts every worker's requests."""
    import os
    import socket
    import sys

    from sizing.validation import OwnedProcess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "SIZING_PROBE_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "uvicorn", "probe_service:app", "--app-dir", str(Path(__file__).parent),
            "--host", "127.0.0.1", "--port", str(port),
            "--workers", "2", "--log-level", "warning"]
    with OwnedProcess(argv, env=env):
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30.0
        while True:
            try:
                httpx.get(base + "/pid", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        pids: set[str] = set()
        sent = 0
        # A new connection per request: the kernel spreads them over the two workers.
        while (len(pids) < 2 or sent < 200) and time.monotonic() < deadline:
            assert httpx.get(f"{base}/work/{sent}", timeout=5.0).status_code == 200
            pids.add(httpx.get(base + "/pid", timeout=5.0).text)
            sent += 1
        assert len(pids) == 2, "the kernel sent every connection to one worker"
        time.sleep(1.2)  # each worker rewrites its file at most once a second, on its next request
        for _ in range(4):
            httpx.get(base + "/pid", timeout=5.0)
        profile = httpx.get(base + "/_sizing/profile", timeout=5.0).json()
    assert profile["workers"] == 2 and sorted(map(str, profile["pids"])) == sorted(pids)
    assert profile["routes"]["/work/{n}"]["requests"] == sent
