"""Thread passes: AnyIO's `to_thread.run_sync`, wrapped to time each pass of the request that makes it.

Starlette and FastAPI reach threads through `anyio.to_thread.run_sync` (a `def` endpoint, each `def`
dependency, a `def` generator dependency's entry, and response validation of a `def` endpoint with a
response model), looking the function up on the module at each call, so replacing the module attribute
catches every one of them. A call with the default limiter is a token pass: its token wait is the time from
the call to the function starting in its thread (the limiter, then the dispatch). A call with a limiter of
its own (FastAPI runs a generator dependency's exit on a fresh `CapacityLimiter(1)`) is counted apart.
AnyIO copies the caller's context into the thread, so the pass finds the request's record there.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

from sizing_probe._recorder import Recorder, RequestRecord

__all__ = ["CURRENT", "install_thread_passes"]

CURRENT: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar("sizing_probe_request", default=None)
T = TypeVar("T")
_ORIGINAL = "_sizing_probe_original"
# A streamed response makes a pass per chunk: keep the first waits one by one, the rest only in the sum.
_MAX_WAITS_PER_REQUEST = 64


def install_thread_passes(recorder: Recorder) -> None:
    """Wrap `anyio.to_thread.run_sync` once per process (a second call is a no-op)."""
    current = anyio.to_thread.run_sync
    if getattr(current, _ORIGINAL, None) is not None:
        return
    original = current

    @functools.wraps(original)
    async def run_sync(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        rec = CURRENT.get()
        if rec is None:
            return await original(func, *args, **kwargs)
        try:
            called = time.perf_counter()
            own_limiter = kwargs.get("limiter") is not None
            timed = _timed(func, rec, called, own_limiter, recorder)
        except Exception:
            recorder.error()
            return await original(func, *args, **kwargs)
        return await original(timed, *args, **kwargs)

    setattr(run_sync, _ORIGINAL, original)
    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def _timed(
    func: Callable[..., T], rec: RequestRecord, called: float, own_limiter: bool, recorder: Recorder
) -> Callable[..., T]:
    def timed(*args: Any) -> T:
        try:
            start = time.perf_counter()
            cpu = time.thread_time()
            rec.current_pass = -1 if own_limiter else rec.passes + 1
        except Exception:
            recorder.error()
            return func(*args)
        try:
            return func(*args)
        finally:
            try:
                end = time.perf_counter()
                rec.current_pass = 0
                if own_limiter:
                    rec.exit_passes += 1
                else:
                    wait = (start - called) * 1000.0
                    rec.passes += 1
                    rec.token_wait_ms += wait
                    if len(rec.pass_waits) < _MAX_WAITS_PER_REQUEST:
                        rec.pass_waits.append(wait)
                    rec.thread_ms += (end - start) * 1000.0
                    rec.thread_cpu_ms += (time.thread_time() - cpu) * 1000.0
            except Exception:
                recorder.error()

    return timed
