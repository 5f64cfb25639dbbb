"""The probe's DB measurements on a real PostgreSQL through a real SQLAlchemy engine: the tutorial's session
held across passes is recognised (checked out in pass 2, checked in in the generator's exit), a session per
pass is not, and holds and waits match what the routes themselves timed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from fastapi import Depends, FastAPI, Response
from pydantic import BaseModel
from sizing_probe import instrument
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

import sizing
from sizing.calibration import calibrate
from sizing.validation import private_database

pytestmark = pytest.mark.postgres
QUERY_S = 0.03


class User(BaseModel):
    id: int


def make_app(dsn: str, timed: list[float]) -> tuple[FastAPI, Any]:
    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=1, max_overflow=0)
    app = FastAPI()

    def get_db() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    # Defaults, not Annotated aliases: FastAPI resolves string annotations in the module, not here.
    def current_user(db: Session = Depends(get_db)) -> int:  # noqa: B008
        return int(db.execute(text("SELECT 7")).scalar_one())

    @app.get("/tutorial", response_model=User)
    def tutorial(user: int = Depends(current_user), db: Session = Depends(get_db)) -> dict[str, int]:  # noqa: B008
        db.execute(text("SELECT 1")).scalar_one()
        return {"id": user}

    @app.get("/per-pass")
    def per_pass() -> Response:
        t0 = time.perf_counter()
        with Session(engine) as session:
            session.execute(text("SELECT pg_sleep(:s)"), {"s": QUERY_S}).all()
        timed.append((time.perf_counter() - t0) * 1000.0)
        return Response(b"ok")

    recorder = instrument(app, engines=[engine])
    return app, recorder


def test_the_session_pattern_and_the_pool_as_measured() -> None:
    timed: list[float] = []
    with private_database(max_connections=20, reserved_connections=3) as db:
        app, recorder = make_app(db.dsn, timed)

        async def main() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                for _ in range(4):
                    assert (await client.get("/tutorial")).status_code == 200
                anyio.to_thread.current_default_thread_limiter().total_tokens = 4
                results = await asyncio.gather(*(client.get("/per-pass") for _ in range(3)))
                assert all(r.status_code == 200 for r in results)

        anyio.run(main)
    routes = recorder.profile()["routes"]
    tut = routes["/tutorial"]
    # get_db's entry (1), current_user (2, the first query), the body (3), validation (4); the exit apart
    assert tut["passes"] == 4 * 4 and tut["exit_passes"] == 4
    assert tut["db"]["first_checkout_pass"] == {"2": 4}
    assert tut["db"]["held_across_passes"] == 4
    per = routes["/per-pass"]["db"]
    assert per["first_checkout_pass"] == {"1": 3} and per["held_across_passes"] == 0
    # Each hold sits inside what the route timed around its session; one connection, three at once:
    # the waits are 0, one hold and two holds.
    assert per["hold_ms"]["count"] == 3
    assert QUERY_S * 1000.0 * 3 <= per["hold_ms"]["sum_ms"] <= sum(timed)
    holds = per["hold_ms"]["sum_ms"]
    assert holds * 0.9 <= per["wait_ms"]["sum_ms"] <= holds * 1.3
    assert recorder.profile()["probe_errors"] == 0
    cal = calibrate([recorder.profile()])
    by_name = {e.name: e for e in cal.scenario.endpoints}
    tutorial_ep, per_pass_ep = by_name["/tutorial"], by_name["/per-pass"]
    assert tutorial_ep.db_connection_scope == "request" and tutorial_ep.db_first_use_pass == 2
    assert tutorial_ep.sync_dependencies == 3  # get_db, current_user and validation counted as dependencies
    assert per_pass_ep.db_connection_scope == "pass"
    assert per_pass_ep.db_hold_ms == pytest.approx(per["hold_ms"]["sum_ms"] / 3)
    # the model sees what the stall issue is about
    assert sizing.evaluate(cal.scenario).stall_burst is not None
