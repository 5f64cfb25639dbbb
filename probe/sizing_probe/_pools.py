"""DB pools: a SQLAlchemy engine's connections, timed per request through the pool's own events.

`checkout` and `checkin` are SQLAlchemy's pool events (they fire in the thread, or on the loop, that takes or
returns the connection), so a connection's hold is exact. SQLAlchemy has no event for the start of a wait,
so the engine's pool gets its `connect` wrapped (on the instance, nothing else changes) to note when a
request asked for a connection; the wait is the time from there to the checkout. Each checkout notes the
pass it happened in (the request's k-th thread pass, 0 on the loop) and each checkin the pass it happened in
(-1: a generator dependency's exit): a connection returned in another pass than the one that took it is a
session held across passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sizing_probe._passes import CURRENT
from sizing_probe._recorder import Recorder

__all__ = ["watch_sqlalchemy"]

_WATCHED = "_sizing_probe_watched"


def watch_sqlalchemy(engine: Any, recorder: Recorder) -> None:
    """Watch the pool of a SQLAlchemy `Engine` or `AsyncEngine` (its `sync_engine`); once per pool."""
    from sqlalchemy import event

    sync_engine = getattr(engine, "sync_engine", engine)
    pool = getattr(sync_engine, "pool", None)
    if pool is None or not hasattr(pool, "connect"):
        raise TypeError(f"engines must be SQLAlchemy Engine or AsyncEngine objects, got {type(engine).__name__}")
    if getattr(pool, _WATCHED, False):
        return
    setattr(pool, _WATCHED, True)
    pool.connect = _timed_connect(pool.connect, recorder)

    def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        try:
            rec = CURRENT.get()
            if rec is None:
                return
            now = time.perf_counter()
            if rec.db_connect_started is not None:
                rec.db_wait_ms += (now - rec.db_connect_started) * 1000.0
                rec.db_connect_started = None
            rec.db_checkouts += 1
            if rec.db_first_pass is None:
                rec.db_first_pass = rec.current_pass
            if len(rec.db_open) < 64:
                rec.db_open[id(dbapi_conn)] = (now, rec.current_pass)
        except Exception:
            recorder.error()

    def checkin(dbapi_conn: Any, _record: Any) -> None:
        try:
            rec = CURRENT.get()
            if rec is None or dbapi_conn is None:
                return
            out = rec.db_open.pop(id(dbapi_conn), None)
            if out is None:
                return
            rec.db_hold_ms += (time.perf_counter() - out[0]) * 1000.0
            if rec.current_pass != out[1]:
                rec.db_across_passes += 1
        except Exception:
            recorder.error()

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)


def _timed_connect(connect: Callable[[], Any], recorder: Recorder) -> Callable[[], Any]:
    def timed() -> Any:
        try:
            rec = CURRENT.get()
            if rec is not None:
                rec.db_connect_started = time.perf_counter()
        except Exception:
            recorder.error()
        return connect()

    return timed
