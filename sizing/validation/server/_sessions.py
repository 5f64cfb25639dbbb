"""A request's session held across token passes, in the validation server: lazy, as SQLAlchemy's Session is,
so its first query checks a connection out and its close (the generator dependency's exit) checks it in.
Emulated (a semaphore), or real (a SQLAlchemy `Session` on the engine, or a psycopg_pool connection)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sizing.validation.server._backends import Burn, EmulatedPools, Pools, RealPools

__all__ = ["QUERY_PG", "QUERY_SQLALCHEMY", "EmulatedSession", "PgPoolSession", "Session", "SqlAlchemySession"]

# The real backend's round trip: pg_sleep for the time asked of the server, and an indexed read of a row.
QUERY_PG = "SELECT pg_sleep(%s), payload FROM items WHERE id = %s"
QUERY_SQLALCHEMY = "SELECT pg_sleep(:s), payload FROM items WHERE id = :id"


class Session:
    """A request's session, held from its first query to `close` (the generator dependency's exit): lazy, as
    SQLAlchemy's Session is, so the first query checks a connection out. Timed as one DB step of the pool:
    the checkout's wait, the hold from checkout to check-in, and the time its queries asked for."""

    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self.t_asked = 0.0
        self.t_wait = 0.0
        self.t_out: float | None = None

    def query(self, seconds: float, row: int, held: Burn | None = None) -> None:
        if self.t_out is None:
            gauge = self.pools.gauges["db_sync"]
            t0 = time.perf_counter()
            gauge.wait(1)
            try:
                self._checkout()
            finally:
                gauge.wait(-1)
            self.t_out = time.perf_counter()
            self.t_wait = self.t_out - t0
            gauge.use(1)
        self.t_asked += seconds
        self._query(seconds, row, held)

    def close(self) -> None:
        if self.t_out is None:
            return
        try:
            self._checkin()
        finally:
            self.pools.gauges["db_sync"].use(-1)
            self.pools.record("db_sync", self.t_wait, time.perf_counter() - self.t_out, self.t_asked)
            self.t_out = None

    def _checkout(self) -> None:
        raise NotImplementedError

    def _query(self, seconds: float, row: int, held: Burn | None) -> None:
        raise NotImplementedError

    def _checkin(self) -> None:
        raise NotImplementedError


class EmulatedSession(Session):
    pools: EmulatedPools

    def _checkout(self) -> None:
        if not self.pools.sync_sems["db"].acquire(timeout=self.pools.timeout_s):
            raise self.pools.fail("db_pool_timeout", f"no connection within {self.pools.timeout_s:g} s")

    def _query(self, seconds: float, row: int, held: Burn | None) -> None:
        self.pools.sleep("db_sync", seconds)
        if held is not None:
            held()

    def _checkin(self) -> None:
        self.pools.sync_sems["db"].release()


class SqlAlchemySession(Session):
    """A real `sqlalchemy.orm.Session` on the engine: its first statement checks the connection out (timed
    apart through `Session.connection()`, which is what the first execute does), `close()` rolls back and
    checks it in."""

    pools: RealPools

    def __init__(self, pools: RealPools) -> None:
        from sqlalchemy import text
        from sqlalchemy.orm import Session as OrmSession

        super().__init__(pools)
        self.orm = OrmSession(pools.engine)
        self.statement = text(QUERY_SQLALCHEMY)

    def _checkout(self) -> None:
        try:
            self.orm.connection()
        except Exception as exc:
            raise self.pools._db_error(exc) from None

    def _query(self, seconds: float, row: int, held: Burn | None) -> None:
        self.orm.execute(self.statement, {"s": seconds, "id": row}).fetchone()

    def _checkin(self) -> None:
        self.orm.close()


class PgPoolSession(Session):
    """The same with a bare psycopg_pool connection: taken at the first query, put back at the close."""

    pools: RealPools

    def __init__(self, pools: RealPools) -> None:
        super().__init__(pools)
        self.conn: Any = None

    def _checkout(self) -> None:
        try:
            self.conn = self.pools.pg_pool.getconn()
        except Exception as exc:
            raise self.pools._db_error(exc) from None

    def _query(self, seconds: float, row: int, held: Burn | None) -> None:
        self.conn.execute(QUERY_PG, (seconds, row)).fetchone()

    def _checkin(self) -> None:
        self.conn.rollback()
        self.pools.pg_pool.putconn(self.conn)
