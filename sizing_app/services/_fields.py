"""Every input of the app as data: key, label, unit, help text and bounds.

Keys are the widget keys and the URL query parameters, so they are short and must never be renamed (a shared
link would silently lose the value). Bounds are read from the scenario model's own fields, so a widget
cannot produce a value the model rejects, except where the model's check spans several fields (or an open
bound, > 0, which a widget shows as >= 0 and the model then names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import annotated_types
from pydantic import BaseModel

from sizing.scenario import Deployment, Endpoint, Runtime, Targets, Traffic

__all__ = ["BY_KEY", "COLUMN_NAMES", "ENDPOINT_COLUMNS", "FIELDS", "SHORT_KEYS", "Column", "Field", "Group"]

Group = Literal["traffic", "endpoints", "deployment", "targets", "runtime"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    key: str
    path: tuple[str, str] | None  # (section, attribute) in the scenario; None: short-form only
    label: str
    unit: str
    help: str
    integer: bool
    low: float
    high: float
    step: float
    group: Group
    short: bool = False
    zero_is_none: bool = False  # an optional setting: 0 in the form is null (none) in the scenario

    @property
    def title(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


_SECTIONS: dict[str, type[BaseModel]] = {
    "traffic": Traffic,
    "deployment": Deployment,
    "targets": Targets,
    "runtime": Runtime,
}


def model_bounds(model: type[BaseModel], attr: str) -> tuple[float | None, float | None, bool]:
    """(low, high, integer) of a scenario field, from its pydantic constraints (None: unbounded); an
    optional integer (`int | None`) counts as an integer."""
    info = model.model_fields[attr]
    low = high = None
    for c in info.metadata:
        if isinstance(c, annotated_types.Ge | annotated_types.Gt):
            low = float(c.ge if isinstance(c, annotated_types.Ge) else c.gt)  # type: ignore[arg-type]
        elif isinstance(c, annotated_types.Le | annotated_types.Lt):
            high = float(c.le if isinstance(c, annotated_types.Le) else c.lt)  # type: ignore[arg-type]
    return low, high, info.annotation is int or info.annotation == (int | None)


def _f(
    key: str,
    path: tuple[str, str] | None,
    label: str,
    unit: str,
    help_: str,
    *,
    high: float = 1e6,
    step: float = 1.0,
    group: Group,
    short: bool = False,
    zero_is_none: bool = False,
) -> Field:
    """A field; one with a `path` takes its bounds from the model, a short-form one is a share in [0, high];
    with `zero_is_none` the form's 0 stands for the model's null (the low bound is then 0)."""
    low: float | None
    top: float | None
    if path is None:
        low, top, integer = 0.0, None, False
    else:
        low, top, integer = model_bounds(_SECTIONS[path[0]], path[1])
    return Field(
        key=key,
        path=path,
        label=label,
        unit=unit,
        help=help_,
        integer=integer,
        low=0.0 if zero_is_none else (low or 0.0),
        high=high if top is None else top,
        step=step,
        group=group,
        short=short,
        zero_is_none=zero_is_none,
    )


FIELDS: tuple[Field, ...] = (
    _f(
        "rps",
        ("traffic", "rps"),
        "Request rate",
        "req/s",
        "Mean requests per second to the whole service, all hosts together.",
        step=10.0,
        group="traffic",
        short=True,
    ),
    _f(
        "peak",
        ("traffic", "peak_factor"),
        "Peak factor",
        "x",
        "Sizing is done at rate x peak factor: 2 means the busiest minutes see twice the mean rate.",
        step=0.1,
        group="traffic",
    ),
    _f(
        "burst",
        ("traffic", "arrival_cv2"),
        "Arrival burstiness",
        "cv²",
        "Squared coefficient of variation of the gaps between requests: 1 = random (Poisson), "
        "above 1 bursty, below 1 smooth.",
        step=0.1,
        group="traffic",
    ),
    _f(
        "sync",
        None,
        "Share of def handlers",
        "0-1",
        "Fraction of requests served by plain `def` handlers (they run in the AnyIO threadpool and take a "
        "thread token); the rest are `async def`.",
        high=1.0,
        step=0.05,
        group="endpoints",
        short=True,
    ),
    _f(
        "upstream",
        None,
        "Upstream latency",
        "ms",
        "Latency of the one outbound HTTP call (httpx) each request makes; 0 means no upstream call.",
        high=600_000.0,
        step=10.0,
        group="endpoints",
        short=True,
    ),
    _f(
        "hosts",
        ("deployment", "hosts"),
        "Hosts",
        "machines or pods",
        "How many machines or pods run the service.",
        group="deployment",
    ),
    _f(
        "cores",
        ("deployment", "cores_per_host"),
        "Cores per host",
        "cores",
        "CPU cores per host: one uvicorn worker per core is the useful maximum (a worker runs Python on one "
        "core at a time).",
        group="deployment",
        short=True,
    ),
    _f(
        "workers",
        ("deployment", "workers_per_host"),
        "Workers per host",
        "processes",
        "uvicorn --workers (or gunicorn -w) on each host.",
        group="deployment",
    ),
    _f(
        "tokens",
        ("deployment", "thread_tokens"),
        "Thread tokens",
        "per worker",
        "AnyIO CapacityLimiter total_tokens: how many `def` handlers and dependencies run at once in one "
        "worker (FastAPI's default is 40).",
        group="deployment",
    ),
    _f(
        "pool",
        ("deployment", "db_pool_size"),
        "DB pool size",
        "connections per worker",
        "SQLAlchemy pool_size (default 5), asyncpg max_size or psycopg_pool max_size, per worker process.",
        group="deployment",
        short=True,
    ),
    _f(
        "overflow",
        ("deployment", "db_max_overflow"),
        "DB max overflow",
        "connections per worker",
        "SQLAlchemy max_overflow (default 10): extra connections opened under load, per worker.",
        group="deployment",
    ),
    _f(
        "http",
        ("deployment", "http_max_connections"),
        "HTTP pool",
        "connections per worker",
        "httpx Limits(max_connections=...) of the client used for upstream calls (default 100).",
        group="deployment",
    ),
    _f(
        "maxconn",
        ("deployment", "db_max_connections"),
        "DB max_connections",
        "connections",
        "The database server's max_connections, shared by the whole fleet (PostgreSQL's default is 100).",
        group="deployment",
    ),
    _f(
        "reserved",
        ("deployment", "db_reserved_connections"),
        "Reserved DB connections",
        "connections",
        "Connections the app cannot use (PostgreSQL superuser_reserved_connections, default 3).",
        group="deployment",
    ),
    _f(
        "pooltimeout",
        ("deployment", "db_pool_timeout_ms"),
        "DB pool timeout",
        "ms",
        "How long a request waits for a pooled DB connection before it fails: SQLAlchemy's pool_timeout "
        "(30 s by default), psycopg_pool's timeout, an asyncpg acquire timeout.",
        step=1000.0,
        group="deployment",
    ),
    _f(
        "sessions",
        ("deployment", "db_session_max_concurrency"),
        "Session max_concurrency",
        "per worker, 0 = none",
        "FastAPI's Depends(get_db, max_concurrency=N) on the session dependency: at most N requests hold a "
        "session at once, the others wait without a thread. At most pool + overflow, it rules out the stall of "
        "sessions held across thread passes. 0 means no limit.",
        group="deployment",
        zero_is_none=True,
    ),
    _f(
        "limitconc",
        ("deployment", "limit_concurrency"),
        "Limit concurrency",
        "per worker, 0 = none",
        "uvicorn --limit-concurrency: past this many open connections or tasks a worker answers 503 (idle "
        "keep-alive connections count). 0 means no limit, uvicorn's default.",
        group="deployment",
        zero_is_none=True,
    ),
    _f(
        "p99",
        ("targets", "latency_p99_ms"),
        "p99 latency target",
        "ms",
        "The 99th percentile of end-to-end latency that must hold at the peak rate.",
        step=10.0,
        group="targets",
    ),
    _f(
        "cpu",
        ("targets", "max_cpu_utilization"),
        "Max CPU utilization",
        "0-1",
        "Highest fraction of a worker's core that may be busy at peak (headroom for GC, bursts, deploys).",
        step=0.05,
        group="targets",
    ),
    _f(
        "poolwait",
        ("targets", "max_pool_wait_p99_ms"),
        "Max pool wait, p99",
        "ms",
        "Highest acceptable p99 wait for a thread token, a DB connection or an httpx connection.",
        step=5.0,
        group="targets",
    ),
    _f(
        "httpfull",
        ("targets", "http_pool_exhaustion"),
        "HTTP pool full",
        "probability",
        "Acceptable probability that an upstream call finds the httpx pool full (it then waits, and after "
        "5 s raises PoolTimeout).",
        step=1e-4,
        group="targets",
    ),
    _f(
        "headroom",
        ("targets", "min_headroom"),
        "Min headroom",
        "x peak",
        "How many times the peak rate the deployment must reach before a stage saturates (1 = none): "
        "recommend sizes tokens, pools and workers to keep it, and below it a warning says so.",
        step=0.05,
        group="targets",
    ),
    _f(
        "handoff",
        ("runtime", "token_handoff_ms"),
        "Token hand-off",
        "ms",
        "Extra time a thread token is held per pass, from dispatch until the awaiting task runs again "
        "(about 0.3-0.7 ms measured; calibrate with `python -m sizing validate`).",
        step=0.1,
        group="runtime",
    ),
    _f(
        "gc_pause",
        ("runtime", "gc_pause_ms"),
        "GC pause",
        "ms",
        "One full collection of Python's cyclic garbage collector in a worker: the loop and every thread "
        "stall for it (about 50 ms for a bare FastAPI app on a slow core; measure with gc.callbacks or "
        "`python -m sizing validate`). 0 leaves GC out.",
        step=1.0,
        group="runtime",
    ),
    _f(
        "gc_rate",
        ("runtime", "gc_pauses_per_1k_requests"),
        "GC pauses per 1000 requests",
        "per 1000",
        "How often a worker runs a full collection, per 1000 requests it handles (about 0.2 for a bare "
        "FastAPI app). 0 leaves GC out.",
        step=0.01,
        group="runtime",
    ),
)
BY_KEY = {f.key: f for f in FIELDS}
SHORT_KEYS = tuple(f.key for f in FIELDS if f.short)


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """A column of the endpoint table (an `Endpoint` field)."""

    name: str
    label: str
    help: str
    kind: Literal["text", "int", "float", "bool", "handler", "scope"]
    low: float | None = None
    high: float | None = None
    required: bool = False


# Where the model sets no upper bound (a p99), the table stops at the longest time the model takes.
_LONGEST_MS = 600_000.0


def _c(
    name: str,
    label: str,
    kind: Literal["text", "int", "float", "bool", "handler", "scope"],
    help_: str = "",
    *,
    required: bool = False,
) -> Column:
    """A column of the endpoint table; a numeric one takes its bounds from `Endpoint`."""
    if not help_:
        desc = Endpoint.model_fields[name].description
        help_ = desc or ""
    if kind not in ("int", "float"):
        return Column(
            name=name,
            label=label,
            help=help_,
            kind=kind,
            low=None,
            high=None,
            required=required,
        )
    low, high, _ = model_bounds(Endpoint, name)
    lo, hi = low or 0.0, _LONGEST_MS if high is None else high
    if kind == "int":
        return Column(
            name=name,
            label=label,
            help=help_,
            kind=kind,
            low=int(lo),
            high=int(hi),
            required=required,
        )
    return Column(
        name=name,
        label=label,
        help=help_,
        kind=kind,
        low=lo,
        high=hi,
        required=required,
    )


ENDPOINT_COLUMNS: tuple[Column, ...] = (
    _c("name", "class", "text", "A name for this kind of request (unique)", required=True),
    _c(
        "share",
        "share",
        "float",
        "Fraction of all requests (the shares add up to 1)",
        required=True,
    ),
    _c("handler", "handler", "handler", "`def` (sync: threadpool) or `async def`", required=True),
    _c(
        "cpu_ms",
        "CPU ms",
        "float",
        "Python CPU per request, framework included (> 0)",
    ),
    _c(
        "loop_cpu_ms",
        "loop CPU ms",
        "float",
        "Optional: the part of CPU ms on the event loop (parsing, routing, serialising); "
        "the rest goes to the thread passes. Blank: split evenly",
    ),
    _c(
        "db_hold_ms",
        "DB hold ms",
        "float",
        "Time a pooled DB connection is held (0: no DB)",
    ),
    _c(
        "db_hold_cv2",
        "DB hold cv²",
        "float",
        "Variability of the DB hold (0 constant, 1 exponential-like)",
    ),
    _c(
        "db_hold_p99_ms",
        "DB hold p99 ms",
        "float",
        "Optional: p99 of the DB hold (fits a lognormal, replaces cv²)",
    ),
    _c(
        "db_cpu_ms",
        "DB driver CPU ms",
        "float",
        "Part of CPU ms: the DB driver's CPU while it holds the connection; under load the connection is held "
        "through its wait for the core too (0: left out)",
    ),
    _c("upstream_calls", "upstream calls", "int", "Outbound HTTP calls per request"),
    _c(
        "upstream_latency_ms", "upstream ms", "float", "Latency of one upstream call"
    ),
    _c(
        "upstream_latency_cv2",
        "upstream cv²",
        "float",
        "Variability of one upstream call",
    ),
    _c(
        "upstream_latency_p99_ms",
        "upstream p99 ms",
        "float",
        "Optional: p99 of one upstream call (fits a lognormal, replaces cv²)",
    ),
    _c(
        "other_io_ms", "other I/O ms", "float", "Other waiting: cache, disk, a sleep"
    ),
    _c("other_io_cv2", "other I/O cv²", "float", "Variability of the other waiting"),
    _c(
        "other_io_p99_ms",
        "other I/O p99 ms",
        "float",
        "Optional: p99 of the other waiting",
    ),
    _c(
        "sync_dependencies",
        "def deps",
        "int",
        "Plain `def` dependencies (each takes a thread token)",
    ),
    _c(
        "response_model",
        "response_model",
        "bool",
        "A `def` endpoint with response_model validates in a 2nd thread pass",
    ),
    _c(
        "db_connection_scope",
        "DB connection held",
        "scope",
        "pass: inside the body's pass (a session per pass). request: from the first query to the end of the "
        "request, across thread passes (the tutorial's `def get_db(): yield Session()`): it can stall a worker",
    ),
    _c(
        "db_first_use_pass",
        "first query in pass",
        "int",
        "With 'request': which thread pass checks the connection out, counting the def dependencies (get_db's "
        "entry included), the body, then response validation. The tutorial is 2",
    ),
    _c(
        "blocking_in_async_ms",
        "blocking in async ms",
        "float",
        "Blocking time inside an `async def` handler "
        "(time.sleep, requests, a sync driver): it stalls the event loop",
    ),
)
COLUMN_NAMES = tuple(c.name for c in ENDPOINT_COLUMNS)
