"""A PostgreSQL for the real backend: a private server started here, or a schema of our own on the user's.

The private server comes from the Debian `postgresql` package: `initdb` into a temporary directory, then
`postgres` listening on 127.0.0.1 on a free port, with `max_connections` from the scenario. PostgreSQL
refuses to run as root, so under root it runs as the package's `postgres` user. It is a child in its own
session, stopped by its process id (fast shutdown, then SIGKILL of its group) on every exit path, and its
directory is removed. Applications connect as an ordinary role, as they do in production, so the server's
own limits are what they meet ("remaining connection slots are reserved for non-replication superuser
connections" at max_connections - superuser_reserved_connections).

With a server the user runs (`database_url`), only a schema of our own is created, seeded and dropped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sizing.validation._processes import LOOPBACK, OwnedProcess, free_port

__all__ = [
    "SEED_ROWS",
    "SPEED_SETTINGS",
    "Database",
    "PostgresUnavailableError",
    "find_bindir",
    "private_database",
    "user_database",
]

# The seeded table every emulated query reads one row of, by primary key (an index scan).
SEED_ROWS = 10_000
_ROLE = "sizing_app"
_DATABASE = "sizing"
# Settings made only for speed: durability the measurements do not need (the queries only read). The
# report names them.
SPEED_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_READY_S = 30.0


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL binaries on this machine (Debian: apt-get install postgresql)."""


@dataclass(frozen=True, slots=True)
class Database:
    """Where the emulating server's pools connect, and what the harness reports about the server."""

    dsn: str  # postgresql://role:password@127.0.0.1:port/db, as an application would use it
    schema: str | None  # the schema of our own on a user's server; None on the private server
    max_connections: int
    reserved_connections: int
    settings: dict[str, str] = field(default_factory=dict)  # non-default settings, named in the report
    version: str = ""
    server_pid: int | None = None  # the private server's postmaster (its process group)

    def url(self, driver: str) -> str:
        """The dsn for SQLAlchemy with `driver` ("psycopg" or "asyncpg")."""
        return self.dsn.replace("postgresql://", f"postgresql+{driver}://", 1)

    @property
    def search_path(self) -> str | None:
        return None if self.schema is None else f"{self.schema},public"


def find_bindir() -> Path | None:
    """The directory of `initdb` and `postgres`: `pg_config --bindir` when it has them, else the newest
    /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH), else PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(Path(out.stdout.strip()))
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = [p for p in root.iterdir() if p.name.replace(".", "").isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: float(p.name), reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "postgres").is_file()), None)


def _run_as() -> str | None:
    """The user to run the server as: `postgres` under root (PostgreSQL refuses root), else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "PostgreSQL refuses to run as root and there is no 'postgres' user: install Debian's postgresql "
            "package (it creates one), or run as an unprivileged user"
        ) from None
    return "postgres"


def _give(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user=user, group=user)


def _connect(dsn: str, timeout_s: float = 5.0) -> Any:
    import psycopg

    return psycopg.connect(dsn, connect_timeout=max(1, round(timeout_s)), autocommit=True)


def _wait_ready(proc: OwnedProcess, dsn: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_S
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        try:
            with _connect(dsn, 2.0):
                return
        except Exception as exc:  # the server is still starting: refused, or "starting up"
            last = str(exc)
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
    raise RuntimeError(f"the private PostgreSQL did not start on {LOOPBACK}: {last.strip()}\n{tail}")


def _seed(conn: Any, schema: str | None) -> None:
    table = "items" if schema is None else f'"{schema}".items'
    if schema is not None:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, payload text NOT NULL)")
    conn.execute(f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, {SEED_ROWS}) AS g")
    conn.execute(f"ANALYZE {table}")


@contextlib.contextmanager
def private_database(max_connections: int, reserved_connections: int) -> Iterator[Database]:
    """A private PostgreSQL for the length of the block, seeded, with an ordinary role to connect as."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "PostgreSQL is not installed: no initdb/postgres in `pg_config --bindir`, /usr/lib/postgresql/*/bin "
            "or PATH (Debian: apt-get install postgresql), or pass database_url for a server you run"
        )
    user = _run_as()
    top = Path(tempfile.mkdtemp(prefix="sizing-pg-"))
    proc: OwnedProcess | None = None
    try:
        _give(top, user)
        data, log = top / "data", top / "server.log"
        superuser_pw, app_pw = secrets.token_hex(12), secrets.token_hex(12)
        pwfile = top / "pw"
        pwfile.write_text(superuser_pw + "\n", encoding="utf-8")
        _give(pwfile, user)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"],
            user=user, capture_output=True, text=True, timeout=120, check=True,
        )
        port = free_port()
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "max_connections": str(max_connections),
            "superuser_reserved_connections": str(reserved_connections),
            "unix_socket_directories": "",
            **SPEED_SETTINGS,
        }
        argv = [str(bindir / "postgres"), "-D", str(data)] + [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
        with log.open("wb") as out:
            proc = OwnedProcess(argv, stdout=out, stderr=subprocess.STDOUT, user=user, stop_signal=signal.SIGINT)
        admin = f"postgresql://postgres:{superuser_pw}@{LOOPBACK}:{port}/postgres"
        _wait_ready(proc, admin, log)
        with _connect(admin) as conn:
            conn.execute(f"CREATE ROLE {_ROLE} LOGIN PASSWORD '{app_pw}' NOSUPERUSER NOCREATEDB NOCREATEROLE")
            conn.execute(f"CREATE DATABASE {_DATABASE} OWNER {_ROLE}")
            version = str(conn.execute("SHOW server_version").fetchone()[0])
        dsn = f"postgresql://{_ROLE}:{app_pw}@{LOOPBACK}:{port}/{_DATABASE}"
        with _connect(dsn) as conn:
            _seed(conn, None)
        yield Database(
            dsn=dsn,
            schema=None,
            max_connections=max_connections,
            reserved_connections=reserved_connections,
            settings={k: settings[k] for k in ("max_connections", "superuser_reserved_connections", *SPEED_SETTINGS)},
            version=version,
            server_pid=proc.pid,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {(exc.stderr or exc.stdout or '').strip()[-2000:]}") from None
    finally:
        if proc is not None:
            proc.stop(grace_s=10.0)
        shutil.rmtree(top, ignore_errors=True)


def _with_password_hidden(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{quote(parts.username or '')}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.contextmanager
def user_database(dsn: str) -> Iterator[Database]:
    """A schema of our own on a server the user runs: created and seeded here, dropped at the end (on every
    exit path). Nothing else on that server is touched."""
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"'database_url' must start with postgresql:// (got {_with_password_hidden(dsn)!r})")
    dsn = dsn.replace("postgres://", "postgresql://", 1)
    schema = f"sizing_validate_{secrets.token_hex(4)}"
    try:
        conn = _connect(dsn)
    except Exception as exc:
        raise ValueError(f"'database_url' {_with_password_hidden(dsn)!r}: cannot connect ({exc})") from None
    with conn:
        max_conn = int(conn.execute("SHOW max_connections").fetchone()[0])
        reserved = int(conn.execute("SHOW superuser_reserved_connections").fetchone()[0])
        version = str(conn.execute("SHOW server_version").fetchone()[0])
        _seed(conn, schema)
    try:
        yield Database(dsn=dsn, schema=schema, max_connections=max_conn, reserved_connections=reserved,
                       version=version)
    finally:
        with contextlib.suppress(Exception), _connect(dsn) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
