"""Measure, inside a running FastAPI or Starlette service, what fastapi-sizing's model takes as input.

    from sizing_probe import instrument
    instrument(app)

One line, no route changes. Per route template and worker process it keeps request counts, a
response-time histogram, the handler's kind, and the request's passes through AnyIO's thread limiter (count, token
wait, thread time, thread CPU) and, for the SQLAlchemy engines it is given, each request's connection
hold and wait and the passes that took and returned the connection, in fixed histograms whatever the
traffic, and serves them as JSON at `GET /_sizing/profile` (format sizing-profile/1). The probe never
raises into the app: its own errors are counted in the profile (`probe_errors`). It keeps no headers,
query strings, bodies or client addresses. It imports nothing beyond Starlette and AnyIO, and is tested
on FastAPI 0.115 with AnyIO 3.7 as well as on the current releases.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sizing_probe._middleware import ProbeMiddleware
from sizing_probe._passes import install_thread_passes
from sizing_probe._pools import watch_sqlalchemy
from sizing_probe._recorder import MAX_ROUTES, PROFILE_FORMAT, Recorder

__all__ = ["MAX_ROUTES", "PROFILE_FORMAT", "Recorder", "instrument"]
__version__ = "0.1.0"


def instrument(
    app: Any,
    *,
    prefix: str = "/_sizing",
    serve: bool = True,
    engines: Sequence[Any] = (),
    share_dir: str | os.PathLike[str] | None = None,
) -> Recorder:
    """Install the probe on `app` (call it before the app starts serving) and return its recorder.

    `prefix`: where the profile is served (`{prefix}/profile`), and requests not measured. `serve=False`
    serves nothing (read `Recorder.profile()` yourself, for example behind the app's own auth). `engines`:
    SQLAlchemy `Engine` or `AsyncEngine` objects whose connections to time per request (hold, wait, and the
    passes that take and return them: a session held across passes shows as `held_across_passes`).
    `share_dir`: a directory the workers of one service (`uvicorn --workers`, gunicorn) share, so that
    `/profile` answers for all of them (default: $SIZING_PROBE_DIR, then $PROMETHEUS_MULTIPROC_DIR, else
    this worker alone).
    """
    if not isinstance(prefix, str) or (prefix and not prefix.startswith("/")):
        raise ValueError(f"prefix must be a path starting with '/', got {prefix!r}")
    if not isinstance(serve, bool):
        raise TypeError(f"serve must be True or False, got {serve!r}")
    if not hasattr(app, "add_middleware"):
        raise TypeError(f"app must be a FastAPI or Starlette application, got {type(app).__name__}")
    if isinstance(engines, (str, bytes)) or not isinstance(engines, Sequence):
        raise TypeError(f"engines must be a list of SQLAlchemy engines, got {type(engines).__name__}")
    shared = share_dir if share_dir is not None else (
        os.environ.get("SIZING_PROBE_DIR") or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    )
    directory = Path(shared) if shared else None
    if directory is not None and not directory.is_dir():
        raise ValueError(f"share_dir must be an existing directory the workers share, got {str(directory)!r}")
    recorder = Recorder()
    for engine in engines:
        watch_sqlalchemy(engine, recorder)
    install_thread_passes(recorder)
    routes = getattr(getattr(app, "router", None), "routes", None)
    app.add_middleware(
        ProbeMiddleware, recorder=recorder, prefix=prefix, serve=serve, routes=routes, share_dir=directory
    )
    return recorder
