"""The real backend's PostgreSQL: a private server that starts, is seeded, refuses what a real one refuses,
and is always stopped; and a user's server where only a schema of our own is touched.

Outside CI a machine without the PostgreSQL binaries skips these with the reason; with CI=true it fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from sizing.validation import SEED_ROWS, private_database, user_database

pytestmark = pytest.mark.postgres


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.05)
    return False


def test_a_private_server_is_seeded_reached_as_an_ordinary_role_and_stopped() -> None:
    with private_database(max_connections=20, reserved_connections=3) as db:
        assert db.server_pid is not None and db.dsn.startswith("postgresql://sizing_app:")
        assert "127.0.0.1" in db.dsn
        with psycopg.connect(db.dsn) as conn:
            superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
            assert superuser == (False,)
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (SEED_ROWS,)
            assert conn.execute("SHOW max_connections").fetchone() == ("20",)
            # The emulated query: pg_sleep of the hold, then one row by its primary key (an index scan).
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN SELECT payload FROM items WHERE id = 42"))
            assert "Index Scan" in plan
            t0 = time.perf_counter()
            conn.execute("SELECT pg_sleep(%s), payload FROM items WHERE id = %s", (0.05, 7)).fetchone()
            assert 0.05 <= time.perf_counter() - t0 < 0.5
        assert db.settings["fsync"] == "off"  # a setting made for speed, named in the report
        pid = db.server_pid
    assert _gone(pid), "the private PostgreSQL outlived its block"


def test_the_private_server_is_stopped_when_the_run_fails() -> None:
    pid = 0
    with pytest.raises(RuntimeError, match="boom"), private_database(10, 3) as db:
        pid = db.server_pid or 0
        raise RuntimeError("boom")
    assert pid and _gone(pid)


def test_an_ordinary_role_meets_the_reserved_slots_as_an_application_does() -> None:
    """max_connections 6 with 3 reserved: an ordinary role gets 3 connections, and the 4th gets the
    error a fleet over its budget meets in production."""
    with private_database(max_connections=6, reserved_connections=3) as db:
        held = [psycopg.connect(db.dsn) for _ in range(3)]
        try:
            with pytest.raises(psycopg.OperationalError, match="reserved for non-replication superuser"):
                psycopg.connect(db.dsn)
        finally:
            for conn in held:
                conn.close()


def test_on_a_users_server_only_a_schema_of_its_own_is_touched() -> None:
    with private_database(20, 3) as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE mine (id int)")
        with user_database(server.dsn) as db:
            assert db.schema is not None and db.schema.startswith("sizing_validate_")
            with psycopg.connect(db.dsn, options=f"-c search_path={db.search_path}") as conn:
                assert conn.execute("SELECT count(*) FROM items").fetchone() == (SEED_ROWS,)
        with psycopg.connect(server.dsn) as conn:
            schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
            assert not any(s.startswith("sizing_validate_") for s in schemas)
            assert conn.execute("SELECT to_regclass('public.mine')").fetchone() == ("mine",)


def test_a_bad_database_url_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="'database_url' must start with postgresql://"), user_database("mysql://x"):
        pass
    hidden = r"'database_url' 'postgresql://u:\*\*\*@127\.0\.0\.1:1/x': cannot connect"
    with pytest.raises(ValueError, match=hidden), user_database("postgresql://u:secret@127.0.0.1:1/x"):
        pass
