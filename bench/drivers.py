"""What a DB step costs beyond the query's own server time, driver by driver (no load: one caller).

    python bench/drivers.py [--queries 2000]

On a private PostgreSQL (the real backend's), each way the emulating server holds a connection runs the
same query `SELECT pg_sleep(0), payload FROM items WHERE id = $1` and is timed in parts: the checkout, the
query's round trip, the end of the hold (SQLAlchemy's reset on return is a ROLLBACK round trip;
psycopg_pool's `connection()` block ends with a COMMIT), and the CPU the caller's thread spent (the
driver's Python and C work, which needs the GIL while the connection is held). SQLAlchemy's
`pool_pre_ping=True`, which the recommended snippets turn on, adds a round trip to every checkout. For
the async drivers it also counts how often the step's coroutine suspends while it holds the connection, and
the tasks the driver starts meanwhile: under load each suspension waits for a turn of the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import types
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sizing.validation import private_database  # noqa: E402

QUERY = "SELECT pg_sleep(0), payload FROM items WHERE id = %s"


def _row(i: int) -> int:
    return i % 9973 + 1


def _report(name: str, parts: dict[str, list[float]], cpu: list[float]) -> None:
    cells = ", ".join(f"{k} {statistics.median(v) * 1000:.3f}" for k, v in parts.items())
    total = [sum(v[i] for v in parts.values()) for i in range(len(cpu))]
    print(f"{name:<34} median ms: {cells}; hold {statistics.median(total) * 1000:.3f} (p90 "
          f"{sorted(total)[int(0.9 * len(total))] * 1000:.3f}); caller CPU {statistics.median(cpu) * 1000:.3f}")


def _note(parts: dict[str, list[float]], cpu: list[float], cpu0: float, stamps: tuple[float, ...]) -> None:
    """Record one step: its checkout, query and release times (from four stamps) and its caller CPU."""
    cpu.append(time.thread_time() - cpu0)
    for key, start, end in zip(("checkout", "query", "release"), stamps, stamps[1:], strict=False):
        parts[key].append(end - start)


def _sync(name: str, n: int, checkout: Callable[[], Any], query: Callable[[Any, int], None],
          release: Callable[[Any], None]) -> None:
    parts: dict[str, list[float]] = {"checkout": [], "query": [], "release": []}
    cpu = []
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        conn = checkout()
        t1 = time.perf_counter()
        query(conn, _row(i))
        t2 = time.perf_counter()
        release(conn)
        _note(parts, cpu, c0, (t0, t1, t2, time.perf_counter()))
    _report(name, parts, cpu)


class _Suspensions:
    """Counts the suspensions of coroutines run through `counted`, and the tasks started meanwhile."""

    def __init__(self) -> None:
        self.suspended = 0
        self.tasks = 0

    @types.coroutine
    def counted(self, awaitable: Awaitable[Any]) -> Generator[Any, Any, Any]:
        steps = awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                yielded = steps.throw(error) if error is not None else steps.send(value)
            except StopIteration as done:
                return done.value
            self.suspended += 1
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # handed back to the coroutine it came from
                value, error = None, exc

    def task_factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        self.tasks += 1
        return asyncio.Task(self.counted(coro), loop=loop, **kwargs)


async def _async(name: str, n: int, checkout: Callable[[], Awaitable[Any]],
                 query: Callable[[Any, int], Awaitable[None]], release: Callable[[Any], Awaitable[None]]) -> None:
    parts: dict[str, list[float]] = {"checkout": [], "query": [], "release": []}
    cpu = []
    for i in range(n):
        c0, t0 = time.thread_time(), time.perf_counter()
        conn = await checkout()
        t1 = time.perf_counter()
        await query(conn, _row(i))
        t2 = time.perf_counter()
        await release(conn)
        _note(parts, cpu, c0, (t0, t1, t2, time.perf_counter()))
    _report(name, parts, cpu)
    # Counted apart from the timed steps: the counting itself costs CPU.
    count, loop, steps = _Suspensions(), asyncio.get_running_loop(), 100
    loop.set_task_factory(count.task_factory)  # type: ignore[arg-type]
    try:
        for i in range(steps):
            conn = await checkout()
            await count.counted(query(conn, _row(i)))
            await count.counted(release(conn))
    finally:
        loop.set_task_factory(None)
    print(f"{'':<34} while holding the connection: {count.suspended / steps:.2f} suspensions and "
          f"{count.tasks / steps:.2f} tasks started per step")


def sqlalchemy_sync(dsn: str, n: int, pre_ping: bool) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1), pool_size=4,
                           max_overflow=0, pool_pre_ping=pre_ping)
    q = text("SELECT pg_sleep(0), payload FROM items WHERE id = :id")
    _sync(f"SQLAlchemy + psycopg{' (pre_ping)' if pre_ping else ''}", n, engine.connect,
          lambda c, r: c.execute(q, {"id": r}).fetchone(), lambda c: c.close())
    engine.dispose()


def psycopg_pool(dsn: str, n: int) -> None:
    from psycopg_pool import ConnectionPool

    with ConnectionPool(dsn, min_size=4, max_size=4, open=True) as pool:
        pool.wait()

        def release(conn: Any) -> None:
            conn.commit()
            pool.putconn(conn)

        _sync("psycopg_pool", n, pool.getconn, lambda c, r: c.execute(QUERY, (r,)).fetchone(), release)


async def asyncpg_pool(dsn: str, n: int) -> None:
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4)

    async def query(conn: Any, r: int) -> None:
        await conn.fetchrow("SELECT pg_sleep(0), payload FROM items WHERE id = $1", r)

    await _async("asyncpg pool", n, pool.acquire, query, pool.release)
    await pool.close()


async def sqlalchemy_async(dsn: str, n: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=4,
                                 max_overflow=0)
    q = text("SELECT pg_sleep(0), payload FROM items WHERE id = :id")

    async def query(conn: Any, r: int) -> None:
        (await conn.execute(q, {"id": r})).fetchone()

    async def release(conn: Any) -> None:
        await conn.close()

    await _async("SQLAlchemy async + asyncpg", n, engine.connect, query, release)
    await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000, help="queries per driver (default: %(default)s)")
    args = parser.parse_args()
    with private_database(max_connections=40, reserved_connections=3) as db:
        print(f"PostgreSQL {db.version} on 127.0.0.1, {args.queries} queries per driver, one caller, warm pools")
        for pre_ping in (False, True):
            sqlalchemy_sync(db.dsn, args.queries, pre_ping)
        psycopg_pool(db.dsn, args.queries)
        asyncio.run(asyncpg_pool(db.dsn, args.queries))
        asyncio.run(sqlalchemy_async(db.dsn, args.queries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
