"""The scenario: what a FastAPI service does and how it is deployed (a public JSON format).

Field names are a contract kept by scripts and CI: fields may be added, never renamed.
Every time is in milliseconds (`_ms`), every rate in requests per second (`rps`), every variability
as a squared coefficient of variation (`_cv2`: 0 = constant, 1 = exponential).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sizing._checks import check_real

__all__ = [
    "Deployment",
    "Endpoint",
    "Runtime",
    "Scenario",
    "Targets",
    "Traffic",
    "lognormal_cv2_from_p99",
]

# z-score of the 99th percentile of a standard normal; used to fit a lognormal to (mean, p99).
_Z99 = 2.3263478740408408
# A lognormal's p99/mean ratio peaks at exp(z^2/2) (sigma = z); beyond it no lognormal has that mean and p99.
_MAX_P99_OVER_MEAN = math.exp(_Z99 * _Z99 / 2.0)

NonNegMs = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Cv2 = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]


def lognormal_cv2_from_p99(mean_ms: float, p99_ms: float) -> float:
    """Squared coefficient of variation of the lognormal with this mean and 99th percentile.

    For a lognormal, p99 / mean = exp(z*sigma - sigma^2/2) with z = 2.326; of the two roots the smaller
    sigma is taken (the larger one puts the p99 below the median's bulk, a shape no latency has).
    Raises ValueError when no lognormal fits (p99 below the mean, or above ~15x the mean).
    """
    if not (math.isfinite(mean_ms) and mean_ms > 0.0):
        raise ValueError(f"mean must be a finite number > 0 ms to fit a p99, got {mean_ms}")
    if not math.isfinite(p99_ms) or p99_ms < mean_ms:
        raise ValueError(f"p99 must be >= the mean ({mean_ms} ms) to fit a lognormal, got {p99_ms}")
    ratio = p99_ms / mean_ms
    if ratio > _MAX_P99_OVER_MEAN * (1.0 - 1e-12):
        raise ValueError(
            f"p99 {p99_ms} ms is {ratio:.1f}x the mean {mean_ms} ms; a lognormal allows at most "
            f"{_MAX_P99_OVER_MEAN:.2f}x: give cv2 directly for heavier tails"
        )
    # z*sigma - sigma^2/2 = ln(ratio)  ->  sigma = z - sqrt(z^2 - 2 ln ratio)
    disc = max(_Z99 * _Z99 - 2.0 * math.log(ratio), 0.0)
    sigma = _Z99 - math.sqrt(disc)
    return math.expm1(sigma * sigma)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Traffic(_Model):
    """The load on the whole service."""

    rps: float = Field(
        gt=0.0, le=1e7, allow_inf_nan=False, description="Mean requests per second, whole service"
    )
    peak_factor: float = Field(
        default=1.0, ge=1.0, le=100.0, allow_inf_nan=False, description="Sizing is done at rps x peak_factor"
    )
    arrival_cv2: Cv2 = Field(
        default=1.0, description="Burstiness of arrivals: 1 = Poisson, >1 bursty, <1 smooth"
    )

    @property
    def peak_rps(self) -> float:
        return self.rps * self.peak_factor


class Endpoint(_Model):
    """One request class: how a request of this kind spends its time inside one worker process."""

    name: str = Field(min_length=1, max_length=80)
    share: float = Field(
        ge=0.0, le=1.0, allow_inf_nan=False, description="Fraction of requests of this class"
    )
    handler: Literal["sync", "async"] = Field(description='"sync" for `def`, "async" for `async def`')
    cpu_ms: float = Field(
        default=1.0,
        gt=0.0,
        le=60_000.0,
        allow_inf_nan=False,
        description="Python CPU per request, framework included (every request costs some: > 0)",
    )
    loop_cpu_ms: float | None = Field(
        default=None,
        gt=0.0,
        le=60_000.0,
        allow_inf_nan=False,
        description=(
            "Optional: the part of cpu_ms spent on the event loop (parsing, routing, serialising; an async "
            "handler's body); the rest is split evenly over the token passes. Unset: cpu_ms is split evenly "
            "over the loop turn and the token passes"
        ),
    )
    db_hold_ms: NonNegMs = Field(
        default=0.0,
        le=600_000.0,
        description="Time a pooled DB connection is held per request, checkout to check-in, with no wait for the "
        "core inside it (as at light load): the queries' round trips and the driver's work (db_cpu_ms)",
    )
    db_cpu_ms: NonNegMs = Field(
        default=0.0,
        le=60_000.0,
        description="Part of cpu_ms: the DB driver's CPU while it holds the connection (encoding the query, "
        "decoding the rows, the reset on return). It needs the core, so under load the connection is held "
        "through the wait for it too. 0 leaves it out (measured per DB step: SQLAlchemy + psycopg about "
        "0.5 ms, psycopg_pool 0.3, asyncpg 0.3, SQLAlchemy + asyncpg 0.6)",
    )
    db_hold_cv2: Cv2 = 1.0
    db_hold_p99_ms: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    upstream_calls: int = Field(default=0, ge=0, le=100, description="Outbound HTTP calls per request")
    upstream_latency_ms: NonNegMs = Field(
        default=0.0, le=600_000.0, description="Latency of one upstream call"
    )
    upstream_latency_cv2: Cv2 = 1.0
    upstream_latency_p99_ms: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    other_io_ms: NonNegMs = Field(
        default=0.0, le=600_000.0, description="Other waiting: cache, disk, a sleep"
    )
    other_io_cv2: Cv2 = 1.0
    other_io_p99_ms: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    sync_dependencies: int = Field(
        default=0, ge=0, le=50, description="Plain `def` dependencies (a token each)"
    )
    response_model: bool = Field(
        default=False, description="A `def` endpoint with response_model: a 2nd pass"
    )
    blocking_in_async_ms: NonNegMs = Field(
        default=0.0, le=600_000.0, description="Blocking time inside an `async def` handler (stalls the loop)"
    )
    db_connection_scope: Literal["pass", "request"] = Field(
        default="pass",
        description='Where a `def` endpoint holds its DB connection. "pass": inside the `def` body\'s token '
        'pass (a session opened and closed in the body). "request": from the query that first checks it out '
        "to the end of the request (the tutorial's `def get_db(): yield Session()` dependency): across the "
        "later passes' token waits, and after the response until the generator's exit has run in a thread of "
        "its own. db_hold_ms is then the time the queries keep the connection busy; it is split evenly over "
        "the passes from db_first_use_pass to the `def` body (to the validation pass alone when that is the "
        "first use), and the close (the reset on return) runs in the exit",
    )
    db_first_use_pass: int = Field(
        default=1,
        ge=1,
        le=52,
        description='With db_connection_scope "request": which of the request\'s token passes checks the '
        "connection out, 1-based, in the order they run: every `def` dependency (a generator dependency's "
        "entry included), then the `def` body, then response validation. The tutorial (get_db, then a "
        "current-user dependency that queries) is 2. The generator's exit is not counted",
    )

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.handler == "sync" and self.blocking_in_async_ms > 0:
            raise ValueError(
                f"blocking_in_async_ms applies to async handlers only, got {self.blocking_in_async_ms} for the "
                f"sync endpoint {self.name!r}: put blocking time of a `def` handler in other_io_ms"
            )
        self._check_db_cpu()
        self._check_db_scope()
        if self.loop_cpu_ms is not None:
            rest = self.cpu_ms - self.db_cpu_ms
            what = "cpu_ms" if self.db_cpu_ms == 0 else "cpu_ms - db_cpu_ms"
            if self.token_passes == 0 and self.loop_cpu_ms != rest:
                raise ValueError(
                    f"loop_cpu_ms is {self.loop_cpu_ms} but {what} is {rest}: the async endpoint "
                    f"{self.name!r} has no thread-token pass, so all its CPU runs on the loop; leave "
                    f"loop_cpu_ms unset or equal to {what}"
                )
            if self.token_passes > 0 and not self.loop_cpu_ms < rest:
                raise ValueError(
                    f"loop_cpu_ms must be less than {what} = {rest} for {self.name!r} (its "
                    f"{self.token_passes} token pass(es) run the rest of the CPU), got {self.loop_cpu_ms}"
                )
        for base in ("db_hold", "upstream_latency", "other_io"):
            mean = getattr(self, f"{base}_ms")
            p99 = getattr(self, f"{base}_p99_ms")
            if p99 is None:
                continue
            if mean <= 0:
                raise ValueError(
                    f"{base}_p99_ms is {p99} but {base}_ms is {mean}: give a mean > 0 with a p99"
                )
            try:
                lognormal_cv2_from_p99(mean, p99)
            except ValueError as exc:
                raise ValueError(f"{base}_p99_ms: {exc}") from None
        return self

    def _check_db_cpu(self) -> None:
        if self.db_cpu_ms <= 0:
            return
        if self.db_hold_ms <= 0:
            raise ValueError(
                f"db_cpu_ms is {self.db_cpu_ms} but {self.name!r} holds no DB connection (db_hold_ms 0): the "
                "driver's CPU runs while a connection is held; set db_hold_ms, or db_cpu_ms to 0"
            )
        if not (self.db_cpu_ms < self.db_hold_ms and self.db_cpu_ms < self.cpu_ms):
            raise ValueError(
                f"db_cpu_ms must be less than db_hold_ms ({self.db_hold_ms}) and cpu_ms ({self.cpu_ms}) for "
                f"{self.name!r}: it is part of both, got {self.db_cpu_ms}"
            )

    def _check_db_scope(self) -> None:
        if self.db_connection_scope == "pass":
            if self.db_first_use_pass != 1:
                raise ValueError(
                    f"db_first_use_pass is {self.db_first_use_pass} but {self.name!r} has db_connection_scope "
                    "'pass' (the connection is held inside the body's pass): set db_connection_scope to "
                    "'request', or leave db_first_use_pass at 1"
                )
            return
        if self.handler != "sync":
            raise ValueError(
                f"db_connection_scope 'request' applies to `def` endpoints (a Session held across thread "
                f"passes), got it for the async endpoint {self.name!r}: an `async def` endpoint holds its "
                "connection while it awaits, with no token to wait for; use 'pass'"
            )
        if self.sync_dependencies < 1:
            raise ValueError(
                f"db_connection_scope 'request' needs the session's generator dependency (`def get_db(): ... "
                f"yield session`) counted in sync_dependencies, got 0 for {self.name!r}: set sync_dependencies "
                "to at least 1"
            )
        if self.db_hold_ms <= 0:
            raise ValueError(
                f"db_connection_scope is 'request' but {self.name!r} holds no DB connection (db_hold_ms 0): "
                "give db_hold_ms, or use 'pass'"
            )
        if self.db_first_use_pass > self.token_passes:
            raise ValueError(
                f"db_first_use_pass must be between 1 and the endpoint's {self.token_passes} token pass(es) "
                f"({self.sync_dependencies} `def` dependencies, the body"
                f"{', response validation' if self.response_model else ''}) for {self.name!r}, "
                f"got {self.db_first_use_pass}"
            )

    @property
    def holds_connection_across_passes(self) -> bool:
        """The connection stays checked out from its first use to the end of the request."""
        return self.db_connection_scope == "request"

    def _cv2(self, base: str) -> float:
        p99 = getattr(self, f"{base}_p99_ms")
        if p99 is not None:
            return lognormal_cv2_from_p99(getattr(self, f"{base}_ms"), p99)
        value: float = getattr(self, f"{base}_cv2")
        return value

    @property
    def db_hold_cv2_effective(self) -> float:
        """db_hold_cv2, or the lognormal fit when db_hold_p99_ms is given."""
        return self._cv2("db_hold")

    @property
    def upstream_latency_cv2_effective(self) -> float:
        return self._cv2("upstream_latency")

    @property
    def other_io_cv2_effective(self) -> float:
        return self._cv2("other_io")

    @property
    def token_passes(self) -> int:
        """Visits to the AnyIO thread limiter per request, one after the other.

        A `def` endpoint is one pass, response validation of a `def` endpoint with a response model is a second
        (FastAPI runs it in the threadpool), and every plain `def` dependency is one more. An `async def`
        endpoint validates on the loop, so only its `def` dependencies take tokens.
        """
        if self.handler == "sync":
            return 1 + int(self.response_model) + self.sync_dependencies
        return self.sync_dependencies

    @property
    def uses_db(self) -> bool:
        return self.db_hold_ms > 0

    @property
    def io_ms(self) -> float:
        """Mean time waiting on I/O (DB hold, upstream calls, other), no queueing."""
        return self.db_hold_ms + self.upstream_calls * self.upstream_latency_ms + self.other_io_ms


class Deployment(_Model):
    """Today's settings (evaluate), or the ones fixed by the user (recommend: hosts and cores at least)."""

    hosts: int = Field(default=1, ge=1, le=10_000, description="Machines or pods")
    cores_per_host: int = Field(default=2, ge=1, le=1024, description="CPU cores per host")
    workers_per_host: int = Field(default=1, ge=1, le=1024, description="uvicorn --workers per host")
    thread_tokens: int = Field(default=40, ge=1, le=100_000, description="AnyIO total_tokens per worker")
    db_pool_size: int = Field(default=5, ge=0, le=10_000, description="SQLAlchemy pool_size per worker")
    db_max_overflow: int = Field(
        default=10, ge=0, le=10_000, description="SQLAlchemy max_overflow per worker"
    )
    http_max_connections: int = Field(
        default=100, ge=1, le=100_000, description="httpx Limits(max_connections) per worker"
    )
    db_max_connections: int = Field(
        default=100, ge=1, le=1_000_000, description="The DB server's max_connections"
    )
    db_reserved_connections: int = Field(
        default=3,
        ge=0,
        le=1_000_000,
        description="Connections not for the app (superuser_reserved_connections)",
    )
    db_pool_timeout_ms: float = Field(
        default=30_000.0,
        gt=0.0,
        le=3_600_000.0,
        allow_inf_nan=False,
        description="How long a request waits for a pooled DB connection before it fails (SQLAlchemy's "
        "pool_timeout, 30 s by default; psycopg_pool's timeout; the acquire timeout of an asyncpg pool)",
    )
    db_session_max_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="FastAPI's Depends(get_db, max_concurrency=N) on the session's generator dependency, per "
        "worker: at most N requests hold a session at once, from the generator's entry to its exit; the "
        "others wait on the event loop, without a thread or a token. With N at most pool_size + max_overflow, "
        "a session held across token passes (db_connection_scope 'request') cannot stall the worker "
        "(null: no limit)",
    )
    limit_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="uvicorn --limit-concurrency per worker: past this many open connections or tasks it "
        "answers 503, idle keep-alive connections included (null: no limit)",
    )

    @model_validator(mode="after")
    def _check_budget(self) -> Self:
        if self.db_reserved_connections >= self.db_max_connections:
            raise ValueError(
                f"db_reserved_connections ({self.db_reserved_connections}) must be below db_max_connections "
                f"({self.db_max_connections})"
            )
        return self

    @property
    def workers(self) -> int:
        return self.hosts * self.workers_per_host

    @property
    def db_connections_per_worker(self) -> int:
        return self.db_pool_size + self.db_max_overflow

    @property
    def fleet_db_connections(self) -> int:
        return self.workers * self.db_connections_per_worker

    @property
    def db_connection_budget(self) -> int:
        return self.db_max_connections - self.db_reserved_connections


class Targets(_Model):
    """What the service must meet at peak."""

    latency_p99_ms: float = Field(default=500.0, gt=0.0, le=3_600_000.0, allow_inf_nan=False)
    max_cpu_utilization: float = Field(default=0.7, gt=0.0, le=1.0, allow_inf_nan=False)
    max_pool_wait_p99_ms: float = Field(
        default=50.0,
        ge=0.0,
        le=3_600_000.0,
        allow_inf_nan=False,
        description="p99 wait for a DB connection, an httpx connection or a thread token",
    )
    http_pool_exhaustion: float = Field(
        default=1e-4,
        gt=0.0,
        lt=1.0,
        allow_inf_nan=False,
        description="Acceptable probability that a request finds the httpx pool full",
    )
    min_headroom: float = Field(
        default=1.25,
        ge=1.0,
        le=100.0,
        allow_inf_nan=False,
        description="Saturation rate over the peak rate: traffic may grow this many times past the peak "
        "before a stage saturates (1 = no margin beyond the peak itself)",
    )

    def short_of_headroom(self, headroom: float) -> bool:
        """`headroom` (saturation / peak rate) is below min_headroom, beyond the saturation search's 1e-9."""
        return headroom < self.min_headroom * (1.0 - 1e-9)


class Runtime(_Model):
    """Constants of the runtime, calibrated once on a real server (see `python -m sizing validate`)."""

    token_handoff_ms: float = Field(
        default=0.4,
        ge=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="Extra token hold per pass: from dispatch to the awaiting task running again",
    )
    gc_pause_ms: float = Field(
        default=0.0,
        ge=0.0,
        le=10_000.0,
        allow_inf_nan=False,
        description="One full (generation 2) collection of CPython's cyclic GC in a worker, ms: the loop and "
        "every thread stall for it. 0 leaves GC out. Measure it with gc.callbacks (validate reports it per point)",
    )
    gc_pauses_per_1k_requests: float = Field(
        default=0.0,
        ge=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="Full collections per 1000 requests a worker handles (they come from the objects requests "
        "leave behind, so their rate follows the request rate). 0 leaves GC out",
    )


class Scenario(_Model):
    """A whole service: traffic, request classes, deployment and targets."""

    traffic: Traffic
    endpoints: list[Endpoint] = Field(min_length=1, max_length=50)
    deployment: Deployment = Field(default_factory=Deployment)
    targets: Targets = Field(default_factory=Targets)
    runtime: Runtime = Field(default_factory=Runtime)

    @model_validator(mode="after")
    def _check_endpoints(self) -> Self:
        total = math.fsum(e.share for e in self.endpoints)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"endpoints: shares must sum to 1, got {total:.6g}; fix the share of each class")
        names = [e.name for e in self.endpoints]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"endpoints: names must be unique, got duplicates {dup}")
        return self

    @classmethod
    def simple(
        cls,
        rps: float,
        sync_fraction: float,
        upstream_latency_ms: float,
        db_pool_size: int = 5,
        *,
        cores: int = 2,
        db_hold_ms: float = 5.0,
        cpu_ms: float = 2.0,
        peak_factor: float = 1.0,
        latency_p99_ms: float = 500.0,
        thread_tokens: int = 40,
        workers_per_host: int = 1,
        hosts: int = 1,
    ) -> Scenario:
        """The short form planners start from: one `def` class and one `async def` class.

        Both classes make one upstream call and hold a DB connection; `sync_fraction` of the requests are
        `def` handlers (threadpool), the rest `async def`.

        >>> s = Scenario.simple(rps=200, sync_fraction=0.5, upstream_latency_ms=80, db_pool_size=5)
        >>> tuple(e.handler for e in s.endpoints)
        ('sync', 'async')
        """
        check_real("sync_fraction", sync_fraction, lo=0.0, hi=1.0)
        calls = 1 if upstream_latency_ms > 0 else 0
        common = {
            "cpu_ms": cpu_ms,
            "db_hold_ms": db_hold_ms,
            "upstream_calls": calls,
            "upstream_latency_ms": upstream_latency_ms,
        }
        endpoints = [
            Endpoint(name="def handlers", share=sync_fraction, handler="sync", **common),
            Endpoint(name="async handlers", share=1.0 - sync_fraction, handler="async", **common),
        ]
        endpoints = [e for e in endpoints if e.share > 0]
        return cls(
            traffic=Traffic(rps=rps, peak_factor=peak_factor),
            endpoints=endpoints,
            deployment=Deployment(
                hosts=hosts,
                cores_per_host=cores,
                workers_per_host=workers_per_host,
                thread_tokens=thread_tokens,
                db_pool_size=db_pool_size,
                db_max_overflow=0,
            ),
            targets=Targets(latency_p99_ms=latency_p99_ms),
        )
