"""The backend a validation run puts behind the emulating server: emulated, or real PostgreSQL and httpx.

`backend_for` starts what the real backend needs (a PostgreSQL, or a schema on the user's; the upstream
process when an endpoint calls one) and hands the emulating server its configuration. Every process it
starts is stopped on every exit path.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from sizing.scenario import Scenario
from sizing.validation._postgres import SEED_ROWS, Database, private_database, user_database
from sizing.validation._processes import LOOPBACK, OwnedProcess, child_env, free_port, lean_boot

__all__ = ["BACKENDS", "DB_POOLS", "Backend", "BackendKind", "DbPool", "backend_for", "check_backend"]

BackendKind = Literal["emulated", "postgres"]
DbPool = Literal["sqlalchemy", "psycopg_pool", "asyncpg"]
BACKENDS: tuple[BackendKind, ...] = ("emulated", "postgres")
DB_POOLS: tuple[DbPool, ...] = ("sqlalchemy", "psycopg_pool", "asyncpg")

_UPSTREAM = lean_boot("import runpy\nrunpy.run_module('sizing.validation.upstream', run_name='__main__')")


@dataclass(slots=True)
class Backend:
    """What the emulating server is given (`config`) and the process groups that are ours (`companions`)."""

    kind: BackendKind
    config: dict[str, Any] | None
    database: Database | None = None
    db_pool: DbPool = "sqlalchemy"
    companions: dict[str, int] = field(default_factory=dict)  # name -> process group id

    def describe(self) -> dict[str, Any]:
        """The report's `backend` block."""
        if self.database is None:
            return {"kind": self.kind}
        db = self.database
        return {
            "kind": self.kind,
            "db_pool": self.db_pool,
            "server": "private" if db.server_pid is not None else "database_url (a schema of its own)",
            "postgres_version": db.version,
            "max_connections": db.max_connections,
            "superuser_reserved_connections": db.reserved_connections,
            "settings": db.settings,
            "upstream": "upstream" in self.companions,
        }


def check_backend(scenario: Scenario, kind: str, db_pool: str, database_url: str | None) -> None:
    """What the real backend cannot run, as ValueError naming the field and the fix; nothing to start yet."""
    problems = []
    if kind not in BACKENDS:
        problems.append(f"'backend' must be in {BACKENDS!r} (got {kind!r})")
    if db_pool not in DB_POOLS:
        problems.append(f"'db_pool' must be in {DB_POOLS!r} (got {db_pool!r})")
    if kind == "emulated" and (database_url is not None or db_pool != "sqlalchemy"):
        problems.append("'database_url' and 'db_pool' apply to backend='postgres' only")
    late = [e.name for e in scenario.endpoints
            if e.holds_connection_across_passes and e.response_model and e.db_first_use_pass == e.token_passes]
    if late:
        problems.append(
            f"endpoints: {late[0]!r} first uses its session in response validation (db_first_use_pass = its last "
            "pass), which the validation server does not emulate (a validator cannot reach the request's "
            "session): validate it with the query in the body's pass"
        )
    if kind == "postgres":
        sync_db = [e.name for e in scenario.endpoints if e.uses_db and e.handler == "sync"]
        async_db = [e.name for e in scenario.endpoints if e.uses_db and e.handler == "async"]
        if sync_db and async_db:
            problems.append(
                f"endpoints: {sync_db[0]!r} (def) and {async_db[0]!r} (async def) both hold DB connections; "
                "a worker would need two pools (a sync and an async engine) and the scenario has one pool per "
                "worker: validate the def and the async def routes as two scenarios"
            )
        if db_pool == "psycopg_pool" and async_db:
            problems.append(f"'db_pool' psycopg_pool serves def code, but {async_db[0]!r} is async def: use asyncpg")
        if db_pool == "asyncpg" and sync_db:
            problems.append(f"'db_pool' asyncpg serves async def code, but {sync_db[0]!r} is def: use psycopg_pool")
    if problems:
        raise ValueError("\n".join(problems))


def _wait_listening(port: int, proc: OwnedProcess, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.alive():
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the upstream server did not start on {LOOPBACK}:{port}")


@contextlib.contextmanager
def _upstream() -> Iterator[tuple[str, OwnedProcess]]:
    port = free_port()
    with OwnedProcess([sys.executable, "-c", _UPSTREAM, str(port)], env=child_env()) as proc:
        _wait_listening(port, proc)
        yield f"http://{LOOPBACK}:{port}", proc


@contextlib.contextmanager
def backend_for(
    scenario: Scenario, kind: BackendKind, db_pool: DbPool = "sqlalchemy", database_url: str | None = None
) -> Iterator[Backend]:
    """The backend for a run: nothing for the emulated one; for PostgreSQL, the database (private, with
    max_connections from the scenario, or a schema on `database_url`) and the upstream process."""
    if kind == "emulated":
        yield Backend(kind="emulated", config=None)
        return
    dep = scenario.deployment
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(
            user_database(database_url) if database_url is not None
            else private_database(dep.db_max_connections, dep.db_reserved_connections)
        )
        companions = {} if db.server_pid is None else {"postgres": db.server_pid}
        config: dict[str, Any] = {
            "kind": "postgres", "dsn": db.dsn, "search_path": db.search_path, "db_pool": db_pool, "rows": SEED_ROWS,
        }
        if any(e.upstream_calls for e in scenario.endpoints):
            url, proc = stack.enter_context(_upstream())
            config["upstream"] = url
            companions["upstream"] = proc.pid
        yield Backend(kind="postgres", config=config, database=db, db_pool=db_pool, companions=companions)
