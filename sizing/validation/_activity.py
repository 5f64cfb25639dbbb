"""The database's own view during a point: the emulating server's connections in pg_stat_activity."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sizing.validation._backend import Backend
from sizing.validation._measure import Probe
from sizing.validation.server._backends import APPLICATION_NAME

__all__ = ["activity"]

_QUERY = (
    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
    "WHERE application_name = %s AND pid <> pg_backend_pid() GROUP BY 1"
)


@contextlib.contextmanager
def activity(backend: Backend) -> Iterator[Probe | None]:
    """A probe of the server's connections by state (one connection of the harness's own, so one slot of
    max_connections), or None for the emulated backend."""
    if backend.database is None:
        yield None
        return
    import psycopg

    conn = psycopg.connect(backend.database.dsn, autocommit=True, application_name="sizing-validate-probe")
    try:

        def probe() -> dict[str, Any]:
            rows = conn.execute(_QUERY, (APPLICATION_NAME,)).fetchall()
            return {"activity": {str(state): int(n) for state, n in rows}}

        yield probe
    finally:
        with contextlib.suppress(Exception):
            conn.close()
