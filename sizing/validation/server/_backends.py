"""What a request's DB and upstream steps do in the emulating server: emulated, or real.

Emulated: the pools are semaphores of the configured size and a step sleeps while it holds one.
Real: a DB step is a round trip to PostgreSQL through the driver the user picked (SQLAlchemy over psycopg
for `def` code and over asyncpg for `async def` code, or a bare psycopg_pool or asyncpg pool), whose
server-side time is `pg_sleep` of the sampled hold plus an indexed read of one seeded row; an upstream step
is an httpx call to the upstream process, which answers after the sampled latency.

Either way every step is timed the same: its wait for the pool and how long it held the connection, so the
harness compares the two backends in one format. A wait that passes `db_pool_timeout_ms` fails the request
with a 500 whose cause is counted (`fail.<cause>`), as a real service's TimeoutError would.

This module runs inside the server process: the drivers are imported only when the real backend is
configured.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sizing.scenario._models import Scenario
from sizing.validation.server._instruments import Meter
from sizing.validation.server._sessions import (
    QUERY_PG,
    QUERY_SQLALCHEMY,
    EmulatedSession,
    PgPoolSession,
    Session,
    SqlAlchemySession,
)

__all__ = [
    "APPLICATION_NAME",
    "EmulatedPools",
    "Pools",
    "RealPools",
    "RequestFailedError",
    "Session",
    "make_pools",
]

Burn = Callable[[], None]  # CPU burned inside a held step, from a thread
AsyncBurn = Callable[[], Awaitable[None]]  # the same on the loop, a turn per piece

# PostgreSQL's application_name of every connection the emulating server opens (pg_stat_activity filter).
APPLICATION_NAME = "sizing-validate"
_QUERY_ASYNCPG = "SELECT pg_sleep($1), payload FROM items WHERE id = $2"


class RequestFailedError(Exception):
    """A step failed the way a real service's would (a pool timeout, a refused connection): a 500."""

    def __init__(self, cause: str, detail: str = "") -> None:
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause
        self.detail = detail


class _Gauge:
    """In use and waiting, as the harness samples them (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_use = 0
        self.waiting = 0

    def wait(self, delta: int) -> None:
        with self.lock:
            self.waiting += delta

    def use(self, delta: int) -> None:
        with self.lock:
            self.in_use += delta


class Pools:
    """The four kinds of step: DB and upstream, from a thread (`def`) or on the loop (`async def`)."""

    def __init__(self, meter: Meter, timeout_s: float) -> None:
        self.meter = meter
        self.timeout_s = timeout_s
        self.gauges = {name: _Gauge() for name in ("db_sync", "db_async", "http_sync", "http_async")}
        self.errors: dict[str, str] = {}  # the last detail of each failure cause, for the report

    def record(self, name: str, wait_s: float, hold_s: float, asked_s: float) -> None:
        """One step: its wait for a connection, how long it held it, and the time it asked the other side
        for (the sleep, pg_sleep or the upstream's delay): hold - asked is what the connection costs."""
        self.meter.add(f"{name}.n")
        self.meter.add(f"{name}.wait_ms", wait_s * 1000.0)
        self.meter.add(f"{name}.hold_ms", hold_s * 1000.0)
        self.meter.add(f"{name}.asked_ms", asked_s * 1000.0)

    def fail(self, cause: str, detail: str) -> RequestFailedError:
        self.meter.add(f"fail.{cause}")
        self.errors[cause] = detail[:300]
        return RequestFailedError(cause, detail)

    def stats(self) -> dict[str, dict[str, float]]:
        return {name: {"in_use": g.in_use, "waiting": g.waiting} for name, g in self.gauges.items()}

    async def open(self) -> None:
        """Called in the lifespan, inside the running loop."""

    async def close(self) -> None:
        """Called at shutdown."""

    def db_sync(self, seconds: float, row: int, held: Burn | None = None) -> None:
        """A DB step from a thread: `held()` runs the driver's CPU inside the hold (emulated backend only:
        a real driver does its own)."""
        raise NotImplementedError

    def session(self) -> Session:
        """A new lazy session for `def` code (db_connection_scope "request")."""
        raise NotImplementedError

    async def db_async(self, seconds: float, row: int, held: AsyncBurn | None = None) -> None:
        raise NotImplementedError

    def http_sync(self, seconds: float) -> None:
        raise NotImplementedError

    async def http_async(self, seconds: float) -> None:
        raise NotImplementedError

    def _timed_sync(self, name: str, asked_s: float, acquire: Callable[[], Any], release: Callable[[Any], None],
                    work: Callable[[Any], None]) -> None:
        gauge = self.gauges[name]
        t0 = time.perf_counter()
        gauge.wait(1)
        try:
            handle = acquire()
        finally:
            gauge.wait(-1)
        t1 = time.perf_counter()
        gauge.use(1)
        try:
            work(handle)
        finally:
            release(handle)
            gauge.use(-1)
            self.record(name, t1 - t0, time.perf_counter() - t1, asked_s)

    async def _timed_async(self, name: str, asked_s: float, acquire: Callable[[], Awaitable[Any]],
                           release: Callable[[Any], Awaitable[None]], work: Callable[[Any], Awaitable[None]]) -> None:
        gauge = self.gauges[name]
        t0 = time.perf_counter()
        gauge.wait(1)
        try:
            handle = await acquire()
        finally:
            gauge.wait(-1)
        t1 = time.perf_counter()
        gauge.use(1)
        try:
            await work(handle)
        finally:
            await release(handle)
            gauge.use(-1)
            self.record(name, t1 - t0, time.perf_counter() - t1, asked_s)


class EmulatedPools(Pools):
    """Semaphores of the configured sizes; a step sleeps while it holds one."""

    def __init__(self, scenario: Scenario, meter: Meter) -> None:
        dep = scenario.deployment
        super().__init__(meter, dep.db_pool_timeout_ms / 1000.0)
        self.sizes = {"db": dep.db_connections_per_worker, "http": dep.http_max_connections}
        self.sync_sems = {k: threading.Semaphore(n) for k, n in self.sizes.items()}
        self.async_sems: dict[str, asyncio.Semaphore] = {}

    async def open(self) -> None:
        self.async_sems = {k: asyncio.Semaphore(n) for k, n in self.sizes.items()}

    def _sync(self, kind: str, seconds: float, timeout_s: float | None, held: Burn | None = None) -> None:
        sem = self.sync_sems[kind]

        def acquire() -> None:
            if not sem.acquire(timeout=timeout_s):
                raise self.fail(f"{kind}_pool_timeout", f"no connection within {timeout_s:g} s")

        name = f"{kind}_sync"

        def work(_: Any) -> None:
            _sleep(self.meter, name, seconds)
            if held is not None:
                held()

        self._timed_sync(name, seconds, acquire, lambda _: sem.release(), work)

    async def _async(self, kind: str, seconds: float, timeout_s: float | None, held: AsyncBurn | None = None) -> None:
        sem = self.async_sems[kind]

        async def acquire() -> None:
            try:
                await asyncio.wait_for(sem.acquire(), timeout_s)
            except TimeoutError:
                raise self.fail(f"{kind}_pool_timeout", f"no connection within {timeout_s:g} s") from None

        async def release(_: Any) -> None:
            sem.release()

        name = f"{kind}_async"

        async def work(_: Any) -> None:
            await _asleep(self.meter, name, seconds)
            if held is not None:
                await held()

        await self._timed_async(name, seconds, acquire, release, work)

    def db_sync(self, seconds: float, row: int, held: Burn | None = None) -> None:
        self._sync("db", seconds, self.timeout_s, held)

    def session(self) -> Session:
        return EmulatedSession(self)

    def sleep(self, name: str, seconds: float) -> None:
        """A step's time with its connection held, metered as the steps' are."""
        _sleep(self.meter, name, seconds)

    async def db_async(self, seconds: float, row: int, held: AsyncBurn | None = None) -> None:
        await self._async("db", seconds, self.timeout_s, held)

    def http_sync(self, seconds: float) -> None:
        self._sync("http", seconds, None)

    async def http_async(self, seconds: float) -> None:
        await self._async("http", seconds, None)


def _sleep(meter: Meter, name: str, seconds: float) -> None:
    """Sleep while holding a pool's connection; how much longer than asked is counted (`record` counts the
    step itself)."""
    t0 = time.perf_counter()
    time.sleep(seconds)
    meter.add(f"{name}.over_ms", (time.perf_counter() - t0 - seconds) * 1000.0)


async def _asleep(meter: Meter, name: str, seconds: float) -> None:
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    meter.add(f"{name}.over_ms", (time.perf_counter() - t0 - seconds) * 1000.0)


class RealPools(Pools):
    """PostgreSQL through the chosen driver and pool, and the upstream through httpx (see the module doc)."""

    def __init__(self, scenario: Scenario, meter: Meter, backend: dict[str, Any]) -> None:
        dep = scenario.deployment
        super().__init__(meter, dep.db_pool_timeout_ms / 1000.0)
        self.kind: str = backend["db_pool"]
        self.dsn: str = backend["dsn"]
        self.search_path: str | None = backend.get("search_path")
        self.upstream: str | None = backend.get("upstream")
        self.size, self.overflow = dep.db_pool_size, dep.db_max_overflow
        self.http_size = dep.http_max_connections
        self.sync_db = any(e.handler == "sync" and e.uses_db for e in scenario.endpoints)
        self.async_db = any(e.handler == "async" and e.uses_db for e in scenario.endpoints)
        self.sync_http = any(e.handler == "sync" and e.upstream_calls for e in scenario.endpoints)
        self.async_http = any(e.handler == "async" and e.upstream_calls for e in scenario.endpoints)
        self.engine: Any = None
        self.async_engine: Any = None
        self.pg_pool: Any = None
        self.apg_pool: Any = None
        self.client: Any = None
        self.async_client: Any = None

    # --- opening and closing --------------------------------------------------------------------------

    def _pg_options(self) -> str:
        return f"-c search_path={self.search_path}" if self.search_path else ""

    async def open(self) -> None:
        if self.sync_db:
            self._open_sync_db()
        if self.async_db:
            await self._open_async_db()
        if self.sync_http or self.async_http:
            import httpx

            limits = httpx.Limits(max_connections=self.http_size, max_keepalive_connections=self.http_size)
            # No timeout of our own: the model does not abandon a wait (the overload work adds timeouts).
            timeout = httpx.Timeout(None)
            if self.sync_http:
                self.client = httpx.Client(base_url=self.upstream or "", limits=limits, timeout=timeout)
            if self.async_http:
                self.async_client = httpx.AsyncClient(base_url=self.upstream or "", limits=limits, timeout=timeout)

    def _open_sync_db(self) -> None:
        if self.kind == "psycopg_pool":
            from psycopg_pool import ConnectionPool

            n = self.size + self.overflow
            kwargs: dict[str, Any] = {"application_name": APPLICATION_NAME}
            if self.search_path:
                kwargs["options"] = self._pg_options()
            self.pg_pool = ConnectionPool(self.dsn, min_size=n, max_size=n, timeout=self.timeout_s, kwargs=kwargs,
                                          open=True)
            self.pg_pool.wait(timeout=30.0)
            return
        from sqlalchemy import create_engine

        args: dict[str, Any] = {"application_name": APPLICATION_NAME}
        if self.search_path:
            args["options"] = self._pg_options()
        self.engine = create_engine(
            self.dsn.replace("postgresql://", "postgresql+psycopg://", 1),
            pool_size=self.size,
            max_overflow=self.overflow,
            pool_timeout=self.timeout_s,
            connect_args=args,
        )

    async def _open_async_db(self) -> None:
        settings = {"application_name": APPLICATION_NAME}
        if self.search_path:
            settings["search_path"] = self.search_path
        if self.kind == "asyncpg":
            import asyncpg

            n = self.size + self.overflow
            self.apg_pool = await asyncpg.create_pool(self.dsn, min_size=n, max_size=n, server_settings=settings)
            return
        from sqlalchemy.ext.asyncio import create_async_engine

        self.async_engine = create_async_engine(
            self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            pool_size=self.size,
            max_overflow=self.overflow,
            pool_timeout=self.timeout_s,
            connect_args={"server_settings": settings},
        )

    async def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.async_client is not None:
            await self.async_client.aclose()
        if self.engine is not None:
            self.engine.dispose()
        if self.async_engine is not None:
            await self.async_engine.dispose()
        if self.pg_pool is not None:
            self.pg_pool.close()
        if self.apg_pool is not None:
            await self.apg_pool.close()

    # --- DB steps -------------------------------------------------------------------------------------

    def _db_error(self, exc: Exception) -> RequestFailedError:
        name, text = type(exc).__name__, str(exc)
        if "Timeout" in name or isinstance(exc, TimeoutError):
            cause = "db_pool_timeout"
        elif "remaining connection slots" in text or "too many clients" in text:
            cause = "db_connections_exhausted"  # the server's max_connections, met by a new connection
        else:
            cause = "db_error"
        return self.fail(cause, f"{name}: {text}")

    def db_sync(self, seconds: float, row: int, held: Burn | None = None) -> None:
        if self.pg_pool is not None:
            pool = self.pg_pool

            def acquire_pg() -> Any:
                try:
                    return pool.getconn()
                except Exception as exc:
                    raise self._db_error(exc) from None

            def work_pg(conn: Any) -> None:
                conn.execute(QUERY_PG, (seconds, row)).fetchone()
                conn.commit()  # what `with pool.connection()` does at its end: a COMMIT round trip

            self._timed_sync("db_sync", seconds, acquire_pg, pool.putconn, work_pg)
            return
        from sqlalchemy import text

        engine, query = self.engine, text(QUERY_SQLALCHEMY)

        def acquire() -> Any:
            try:
                return engine.connect()
            except Exception as exc:
                raise self._db_error(exc) from None

        def work(conn: Any) -> None:
            conn.execute(query, {"s": seconds, "id": row}).fetchone()

        # close(): SQLAlchemy's reset on return (a ROLLBACK round trip), then check-in.
        self._timed_sync("db_sync", seconds, acquire, lambda conn: conn.close(), work)

    def session(self) -> Session:
        return PgPoolSession(self) if self.pg_pool is not None else SqlAlchemySession(self)

    async def db_async(self, seconds: float, row: int, held: AsyncBurn | None = None) -> None:
        if self.apg_pool is not None:
            pool = self.apg_pool

            async def acquire_apg() -> Any:
                try:
                    return await pool.acquire(timeout=self.timeout_s)
                except Exception as exc:
                    raise self._db_error(exc) from None

            async def work_apg(conn: Any) -> None:
                await conn.fetchrow(_QUERY_ASYNCPG, seconds, row)

            await self._timed_async("db_async", seconds, acquire_apg, pool.release, work_apg)
            return
        from sqlalchemy import text

        engine, query = self.async_engine, text(QUERY_SQLALCHEMY)

        async def acquire() -> Any:
            try:
                return await engine.connect()
            except Exception as exc:
                raise self._db_error(exc) from None

        async def work(conn: Any) -> None:
            (await conn.execute(query, {"s": seconds, "id": row})).fetchone()

        async def release(conn: Any) -> None:
            await conn.close()

        await self._timed_async("db_async", seconds, acquire, release, work)

    # --- upstream steps -------------------------------------------------------------------------------

    def http_sync(self, seconds: float) -> None:
        started: list[float] = []

        def trace(event: str, _info: dict[str, Any]) -> None:
            if not started and event in _FIRST_EVENTS:
                started.append(time.perf_counter())

        t0 = time.perf_counter()
        gauge = self.gauges["http_sync"]
        gauge.use(1)
        try:
            response = self.client.get(f"/sleep?ms={seconds * 1000.0:.3f}", extensions={"trace": trace})
        except Exception as exc:
            raise self.fail("http_error", f"{type(exc).__name__}: {exc}") from None
        finally:
            gauge.use(-1)
        self._http_done("http_sync", seconds, response.status_code, t0, started)

    async def http_async(self, seconds: float) -> None:
        started: list[float] = []

        async def trace(event: str, _info: dict[str, Any]) -> None:
            if not started and event in _FIRST_EVENTS:
                started.append(time.perf_counter())

        t0 = time.perf_counter()
        gauge = self.gauges["http_async"]
        gauge.use(1)
        try:
            response = await self.async_client.get(f"/sleep?ms={seconds * 1000.0:.3f}", extensions={"trace": trace})
        except Exception as exc:
            raise self.fail("http_error", f"{type(exc).__name__}: {exc}") from None
        finally:
            gauge.use(-1)
        self._http_done("http_async", seconds, response.status_code, t0, started)

    def _http_done(self, name: str, asked_s: float, status: int, t0: float, started: list[float]) -> None:
        end = time.perf_counter()
        if status != 200:
            raise self.fail("http_error", f"upstream answered {status}")
        # The pool wait is the time before the connection (new or kept alive) is first used.
        first = started[0] if started else t0
        self.record(name, first - t0, end - first, asked_s)


# The first trace event once httpx has a connection from its pool: opening a new one, or sending on one.
_FIRST_EVENTS = frozenset({"connection.connect_tcp.started", "http11.send_request_headers.started"})


def make_pools(scenario: Scenario, meter: Meter, backend: dict[str, Any] | None) -> Pools:
    """The pools of the backend the harness configured (None: emulated)."""
    if backend is None or backend.get("kind", "emulated") == "emulated":
        return EmulatedPools(scenario, meter)
    return RealPools(scenario, meter, backend)
