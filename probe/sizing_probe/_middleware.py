"""The ASGI middleware: times each request, names it by its route template, and serves the profile."""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sizing_probe._passes import CURRENT
from sizing_probe._recorder import OTHER_ROUTE, Recorder, RequestRecord
from sizing_probe._shared import merge, publish, read_all

__all__ = ["PUBLISH_EVERY_S", "ProbeMiddleware"]

UNMATCHED = "(unmatched)"
PUBLISH_EVERY_S = 1.0  # how often a worker rewrites its file in the shared directory, at most


def _tokens() -> float | None:
    """The default limiter's size (on the event loop; None elsewhere)."""
    try:
        return float(anyio.to_thread.current_default_thread_limiter().total_tokens)
    except Exception:
        return None


class ProbeMiddleware:
    """Measures every HTTP request outside `prefix`; answers `GET {prefix}/profile` when `serve` is set.

    The app's own exceptions pass through untouched; the probe's are caught and counted.
    """

    def __init__(
        self, app: ASGIApp, *, recorder: Recorder, prefix: str, serve: bool, routes: Any = None,
        share_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.prefix = prefix.rstrip("/")
        self.serve = serve
        self.routes = routes  # the app's routes, to name a request when the router left no scope["route"]
        self.share_dir = share_dir
        self.published = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            if self.serve and path == self.prefix + "/profile" and scope.get("method") == "GET":
                await self._profile(send)
                return
            await self.app(scope, receive, send)
            return
        rec = RequestRecord()
        token = CURRENT.set(rec)
        status = [500]
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            CURRENT.reset(token)
            self._finish(scope, status[0], (time.perf_counter() - start) * 1000.0, rec)

    def _finish(self, scope: Scope, status: int, ms: float, rec: RequestRecord) -> None:
        try:
            route, handler = self._route(scope)
            self.recorder.finish(route, handler, status, ms, rec)
            if self.share_dir is not None and time.monotonic() - self.published >= PUBLISH_EVERY_S:
                self.published = time.monotonic()
                publish(self.share_dir, self.recorder.profile(_tokens()))
        except Exception:
            self.recorder.error()

    def _route(self, scope: Scope) -> tuple[str, str]:
        """(the route's path template, "sync" or "async"), never the raw path."""
        route = scope.get("route")
        if route is None and self.routes is not None:
            for candidate in self.routes:
                match, _ = candidate.matches(scope)
                if match == Match.FULL:
                    route = candidate
                    break
        if route is None:
            return UNMATCHED, "unknown"
        template = getattr(route, "path", None) or OTHER_ROUTE
        endpoint = getattr(route, "endpoint", None)
        handler = "async" if endpoint is not None and inspect.iscoroutinefunction(endpoint) else "sync"
        return str(template), handler

    async def _profile(self, send: Send) -> None:
        try:
            profile = self.recorder.profile(_tokens())
            if self.share_dir is not None:
                publish(self.share_dir, profile)
                self.published = time.monotonic()
                profile = merge(read_all(self.share_dir, profile))
            body = json.dumps(profile).encode()
            code = 200
        except Exception:
            self.recorder.error()
            body, code = b'{"error":"the probe could not build its profile"}', 500
        await send({"type": "http.response.start", "status": code,
                    "headers": [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
