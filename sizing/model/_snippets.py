"""Config to paste, generated from a deployment. Python snippets compile; shell snippets parse with bash -n."""

from __future__ import annotations

from sizing.scenario._models import Deployment

__all__ = ["PYTHON_SNIPPETS", "SHELL_SNIPPETS", "snippets_for"]

PYTHON_SNIPPETS = (
    "lifespan", "httpx", "sqlalchemy", "sqlalchemy_session", "sqlalchemy_async", "asyncpg", "psycopg_pool",
)
SHELL_SNIPPETS = ("uvicorn", "gunicorn")

# Filled with str.format: {tokens}, {http}, {keepalive}, {pool}, {overflow}, {connections}, {pool_timeout_s},
# {workers}, {limit} (uvicorn's --limit-concurrency, or nothing), {app_path}, {session_limit} (FastAPI's
# max_concurrency on the session dependency, or nothing).
_TEMPLATES = {
    "lifespan": """\
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from prometheus_client import Gauge

THREAD_TOKENS = {tokens}
tokens_waiting = Gauge("anyio_threadpool_tasks_waiting", "Tasks queued for an AnyIO thread token")
tokens_borrowed = Gauge("anyio_threadpool_tokens_borrowed", "AnyIO thread tokens in use")


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Must run inside the event loop: one limiter per loop, so per worker process.
    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = THREAD_TOKENS

    def sample() -> float:
        stats = limiter.statistics()
        tokens_borrowed.set(stats.borrowed_tokens)
        return stats.tasks_waiting

    tokens_waiting.set_function(sample)
    yield


app = FastAPI(lifespan=lifespan)
""",
    "httpx": """\
import httpx

# One client per worker process, created in the lifespan and closed on shutdown.
client = httpx.AsyncClient(
    limits=httpx.Limits(max_connections={http}, max_keepalive_connections={keepalive}),
    timeout=httpx.Timeout(5.0, pool=5.0),
)
""",
    "sqlalchemy": """\
from sqlalchemy import create_engine

engine = create_engine(
    DATABASE_URL,
    pool_size={pool},
    max_overflow={overflow},
    pool_timeout={pool_timeout_s},
    pool_pre_ping=True,
)
""",
    "sqlalchemy_session": """\
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session


def get_db() -> Iterator[Session]:
    with Session(engine) as session:
        yield session


# One Depends object for every route and dependency: one session per request (and, with max_concurrency,
# one limit for them all).
SessionDep = Annotated[Session, Depends(get_db{session_limit})]
""",
    "sqlalchemy_async": """\
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(
    DATABASE_URL,
    pool_size={pool},
    max_overflow={overflow},
    pool_timeout={pool_timeout_s},
    pool_pre_ping=True,
)
""",
    "asyncpg": """\
import asyncpg


async def make_pool(dsn: str) -> asyncpg.Pool:
    # acquire() waits forever by default: bound it with a timeout at the call site.
    return await asyncpg.create_pool(dsn, min_size={connections}, max_size={connections})
""",
    "psycopg_pool": """\
from psycopg_pool import ConnectionPool

pool = ConnectionPool(conninfo=DATABASE_URL, min_size={connections}, max_size={connections}, timeout={pool_timeout_s})
""",
    "uvicorn": (
        "uvicorn {app_path} --host 0.0.0.0 --port 8000 --workers {workers}{limit} "
        "--loop uvloop --http httptools\n"
    ),
    "gunicorn": (
        "gunicorn {app_path} -k uvicorn_worker.UvicornWorker --workers {workers} --bind 0.0.0.0:8000\n"
    ),
}


def snippets_for(dep: Deployment, app_path: str = "app.main:app") -> dict[str, str]:
    """Every snippet (PYTHON_SNIPPETS, SHELL_SNIPPETS) with this deployment's numbers."""
    values = {
        "tokens": dep.thread_tokens,
        "http": dep.http_max_connections,
        "keepalive": min(dep.http_max_connections, max(20, dep.http_max_connections // 2)),
        "pool": dep.db_pool_size,
        "overflow": dep.db_max_overflow,
        "connections": dep.db_connections_per_worker,
        "pool_timeout_s": f"{dep.db_pool_timeout_ms / 1000.0:g}",
        "workers": dep.workers_per_host,
        "limit": "" if dep.limit_concurrency is None else f" --limit-concurrency {dep.limit_concurrency}",
        "app_path": app_path,
        "session_limit": (
            "" if dep.db_session_max_concurrency is None else f", max_concurrency={dep.db_session_max_concurrency}"
        ),
    }
    return {name: template.format(**values) for name, template in _TEMPLATES.items()}
