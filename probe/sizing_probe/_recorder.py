"""What the probe keeps: per route template, counters and fixed histograms; bounded whatever the traffic."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sizing_probe._histogram import LogHistogram

__all__ = ["MAX_ROUTES", "OTHER_ROUTE", "PROFILE_FORMAT", "Recorder", "RequestRecord", "RouteStats"]

PROFILE_FORMAT = "sizing-profile/1"
MAX_ROUTES = 200  # distinct route templates kept; the rest are pooled under OTHER_ROUTE
OTHER_ROUTE = "(other)"
_MAX_PASS_KEYS = 16


@dataclass(slots=True)
class RequestRecord:
    """One request in flight: filled by the middleware on the loop and by its thread passes."""

    passes: int = 0
    token_wait_ms: float = 0.0
    thread_ms: float = 0.0
    thread_cpu_ms: float = 0.0
    exit_passes: int = 0  # thread passes on a limiter of their own (a generator dependency's exit)
    pass_waits: list[float] = field(default_factory=list)
    # Where the request is: 0 on the event loop, k in its k-th token pass, -1 in an exit pass.
    current_pass: int = 0
    # DB connections (a watched pool): checkouts, their total hold and wait, and where they went out and in.
    db_checkouts: int = 0
    db_hold_ms: float = 0.0
    db_wait_ms: float = 0.0
    db_first_pass: int | None = None  # the pass of the first checkout (0: on the loop)
    db_across_passes: int = 0  # connections checked in somewhere other than the pass that took them
    db_open: dict[int, tuple[float, int]] = field(default_factory=dict)  # id(connection) -> (out at, pass)
    db_connect_started: float | None = None


@dataclass(slots=True)
class RouteStats:
    handler: str
    requests: int = 0
    server_errors: int = 0
    response_ms: LogHistogram = field(default_factory=LogHistogram)
    token_wait_ms: LogHistogram = field(default_factory=LogHistogram)  # one per pass
    thread_ms: LogHistogram = field(default_factory=LogHistogram)  # per request, all its passes
    passes: int = 0
    exit_passes: int = 0
    thread_cpu_ms: float = 0.0
    db_requests: int = 0
    db_checkouts: int = 0
    db_hold_ms: LogHistogram = field(default_factory=LogHistogram)  # per request, all its checkouts
    db_wait_ms: LogHistogram = field(default_factory=LogHistogram)  # per request
    db_first_pass: dict[int, int] = field(default_factory=dict)  # pass of the first checkout -> requests
    db_across_passes: int = 0  # requests that held a connection from one pass into another

    def to_json(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "requests": self.requests,
            "server_errors": self.server_errors,
            "passes": self.passes,
            "exit_passes": self.exit_passes,
            "thread_cpu_ms": self.thread_cpu_ms,
            "response_ms": self.response_ms.to_json(),
            "token_wait_ms": self.token_wait_ms.to_json(),
            "thread_ms": self.thread_ms.to_json(),
            "db": {
                "requests": self.db_requests,
                "checkouts": self.db_checkouts,
                "hold_ms": self.db_hold_ms.to_json(),
                "wait_ms": self.db_wait_ms.to_json(),
                "first_checkout_pass": {str(k): n for k, n in sorted(self.db_first_pass.items())},
                "held_across_passes": self.db_across_passes,
            },
        }


class Recorder:
    """The measurements of one worker process. Every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.routes: dict[str, RouteStats] = {}
        self.probe_errors = 0
        self.started = time.time()
        self.started_mono = time.monotonic()
        self.started_cpu = time.process_time()

    def error(self) -> None:
        """The probe failed somewhere: counted, never raised into the app."""
        with self._lock:
            self.probe_errors += 1

    def finish(self, route: str, handler: str, status: int, response_ms: float, rec: RequestRecord) -> None:
        with self._lock:
            stats = self.routes.get(route)
            if stats is None:
                if len(self.routes) >= MAX_ROUTES:
                    route = OTHER_ROUTE
                    stats = self.routes.get(route)
                if stats is None:
                    stats = self.routes[route] = RouteStats(handler=handler)
            stats.requests += 1
            stats.server_errors += status >= 500
            stats.response_ms.add(response_ms)
            stats.passes += rec.passes
            stats.exit_passes += rec.exit_passes
            stats.thread_cpu_ms += rec.thread_cpu_ms
            if rec.passes:
                stats.thread_ms.add(rec.thread_ms)
            for w in rec.pass_waits:
                stats.token_wait_ms.add(w)
            if rec.db_checkouts:
                stats.db_requests += 1
                stats.db_checkouts += rec.db_checkouts
                stats.db_hold_ms.add(rec.db_hold_ms)
                stats.db_wait_ms.add(rec.db_wait_ms)
                first = rec.db_first_pass if rec.db_first_pass is not None else 0
                if len(stats.db_first_pass) < _MAX_PASS_KEYS or first in stats.db_first_pass:
                    stats.db_first_pass[first] = stats.db_first_pass.get(first, 0) + 1
                stats.db_across_passes += rec.db_across_passes > 0

    def profile(self, thread_tokens: float | None = None) -> dict[str, Any]:
        """The profile of this worker (format sizing-profile/1); `thread_tokens`: the limiter's size, when
        read on the event loop."""
        with self._lock:
            routes = {name: stats.to_json() for name, stats in sorted(self.routes.items())}
            errors = self.probe_errors
        return {
            "format": PROFILE_FORMAT,
            "workers": 1,
            "pids": [os.getpid()],
            "started": self.started,
            "window_s": time.monotonic() - self.started_mono,
            "process_cpu_s": time.process_time() - self.started_cpu,
            "thread_tokens": thread_tokens,
            "probe_errors": errors,
            "routes": routes,
        }
