"""Processes this package starts: the uvicorn server and the load generators, always stopped by their ids.

Every child gets its own session (so its process group id is its pid, and a uvicorn supervisor's workers
are in that group) and a parent-death signal (so a parent killed with SIGKILL does not leave it running).
`stop()` signals that group only: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any, Self

import httpx

from sizing.scenario._models import Scenario
from sizing.validation.server._app import CONFIG_ENV

__all__ = [
    "LOOPBACK",
    "OwnedProcess",
    "Server",
    "free_port",
    "pinned_cpus",
    "sigterm_as_interrupt",
    "start_server",
]

_PR_SET_PDEATHSIG = 1
LOOPBACK = "127.0.0.1"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _child_setup(cpus: frozenset[int] | None) -> Any:
    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        if cpus:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)
        _die_with_parent()

    return setup


@contextlib.contextmanager
def pinned_cpus(workers: int, pin: bool) -> Iterator[tuple[frozenset[int], frozenset[int]] | None]:
    """With `pin`: (the server's CPUs, everyone else's). This process moves to the second set for the
    block, so what it starts (PostgreSQL, the upstream, the generators) inherits it; the server is started
    on the first set (`start_server(cpus=...)`). Restored on leaving. None without `pin`."""
    if not pin:
        yield None
        return
    before = os.sched_getaffinity(0)
    cores = sorted(before)
    if len(cores) <= workers:
        raise ValueError(
            f"'pin' needs more CPUs than the deployment's workers_per_host ({workers}): this process may use "
            f"{len(cores)} ({cores}); run without pin"
        )
    server, others = frozenset(cores[:workers]), frozenset(cores[workers:])
    os.sched_setaffinity(0, others)
    try:
        yield server, others
    finally:
        os.sched_setaffinity(0, before)


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: this package importable wherever the command was run from."""
    env = dict(os.environ)
    root = _package_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if extra:
        env.update(extra)
    return env


class OwnedProcess:
    """A child process in its own session, stopped (with its group) by `stop()` or on leaving a `with`.

    `user` runs it as another user (which needs root); `stop_signal` is what asks it to stop before the
    SIGKILL (SIGTERM by default; PostgreSQL's fast shutdown is SIGINT); `cpus` pins it (and what it
    forks) to those CPUs.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        stdin: int | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            # The parent-death signal survives the user change: Popen switches user before this runs.
            preexec_fn=_child_setup(cpus),
            user=user,
            group=user,
        )
        self.pid = self.proc.pid
        self.stop_signal = stop_signal

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """Signal the child's process group (`stop_signal`), SIGKILL it after `grace_s`; idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, self.stop_signal)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=grace_s)
        # The leader may be gone while uvicorn workers of its group linger: kill what is left of the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the server binds it a moment later; a clash fails the start)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def group_alive(pgid: int) -> bool:
    """Whether any process of the group `pgid` still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt for the duration, so `finally` blocks stop the children."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def loop_and_http() -> tuple[str, str]:
    """uvicorn's fastest implementations when installed (uvicorn[standard]), else its pure-Python ones."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


class Server:
    """A running emulating server: its process, URL and a control client."""

    def __init__(
        self,
        proc: OwnedProcess,
        port: int,
        log: IO[bytes],
        workers: int = 1,
        companions: dict[str, int] | None = None,
    ) -> None:
        self.proc = proc
        self.port = port
        self.base_url = f"http://{LOOPBACK}:{port}"
        self.log = log
        self.workers = workers
        # Process groups of ours besides the server (a PostgreSQL, the upstream): their CPU is reported per
        # point and is not "other processes".
        self.companions = dict(companions or {})
        self.client = httpx.Client(base_url=self.base_url, timeout=10.0)

    def stats(self) -> dict[str, Any]:
        r = self.client.get("/_stats")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def configure(self, **body: Any) -> list[dict[str, Any]]:
        """Send the same /_config to every worker process; their answers, one per pid.

        A keep-alive connection always reaches the same worker, so each post goes on a new connection until
        every worker has answered (uvicorn's workers take turns accepting, in no fixed order).
        """
        content = json.dumps(body).encode()
        answers: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 10.0  # a worker may still be starting
        while True:
            with httpx.Client(base_url=self.base_url, timeout=10.0) as fresh:
                r = fresh.post("/_config", content=content)
            r.raise_for_status()
            data: dict[str, Any] = r.json()
            answers[int(data["pid"])] = data
            if len(answers) >= self.workers:
                return list(answers.values())
            if time.monotonic() > deadline:
                raise RuntimeError(f"/_config reached {len(answers)} of {self.workers} worker processes in 10 s")
            time.sleep(0.01)

    def handoff_bodies(self) -> list[tuple[float, float]]:
        r = self.client.get("/_handoff_bodies")
        r.raise_for_status()
        return [(float(a), float(b)) for a, b in r.json()]

    def log_tail(self, limit: int = 2000) -> str:
        with contextlib.suppress(OSError):
            self.log.flush()
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-limit:]
        return ""

    def stop(self) -> None:
        self.client.close()
        self.proc.stop()
        with contextlib.suppress(OSError):
            self.log.close()


# A child process of the harness (the uvicorn server, a load generator) boots with the `sizing` and
# `sizing.validation` packages stubbed, so importing a module inside them loads what that module imports
# and no more: the server loads fastapi, pydantic and the scenario models, not the numpy, scipy and plotly
# the calculator imports. That keeps the server's heap (about 50k tracked objects, like a bare FastAPI
# app, instead of 68k) and so its garbage-collection pauses those of an ordinary service. With
# --workers > 1, uvicorn's spawned workers import the app normally.
_STUBS = (
    ("sizing", str(Path(__file__).resolve().parents[1])),
    ("sizing.validation", str(Path(__file__).resolve().parent)),
)


def lean_boot(then: str) -> str:
    """Python source for `python -c`: stub the two packages, then run the statements `then`."""
    return (
        "import sys, types\n"
        f"for _name, _path in {_STUBS!r}:\n"
        "    _m = types.ModuleType(_name)\n"
        "    _m.__path__ = [_path]\n"
        "    sys.modules[_name] = _m\n"
        f"{then}\n"
    )


_UVICORN = lean_boot("import uvicorn\nsys.argv = ['uvicorn', *sys.argv[1:]]\nuvicorn.main()")
LOADGEN = lean_boot("import runpy\nrunpy.run_module('sizing.validation.loadgen', run_name='__main__')")


def start_server(
    scenario: Scenario,
    *,
    seed: int = 0,
    ready_timeout_s: float = 30.0,
    attempts: int = 3,
    backend: dict[str, Any] | None = None,
    companions: dict[str, int] | None = None,
    cpus: frozenset[int] | None = None,
) -> Server:
    """Start uvicorn with the emulating app on a free 127.0.0.1 port; the caller must `stop()` it.

    `backend`: the real backend's configuration for the app (None: emulated pools). The scenario's
    `deployment.limit_concurrency` becomes uvicorn's --limit-concurrency. `cpus` pins the server and its
    workers.
    """
    import tempfile

    loop, http = loop_and_http()
    config = json.dumps({"scenario": scenario.model_dump(mode="json"), "seed": seed, "backend": backend})
    limit = scenario.deployment.limit_concurrency
    extra = [] if limit is None else ["--limit-concurrency", str(limit)]
    last_error = ""
    for _ in range(attempts):
        port = free_port()
        argv = [
            sys.executable,
            "-c",
            _UVICORN,
            "sizing.validation.server:create_app",
            "--factory",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--workers",
            str(scenario.deployment.workers_per_host),
            "--loop",
            loop,
            "--http",
            http,
            # Long keep-alive: the generator opens its connections before a point and reuses them.
            "--timeout-keep-alive",
            "600",
            "--backlog",
            "4096",
            "--no-access-log",
            "--log-level",
            "warning",
            *extra,
        ]
        log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the Server, closed by Server.stop()
        proc = OwnedProcess(
            argv,
            env=child_env({CONFIG_ENV: config}),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cpus=cpus,
        )
        server = Server(proc, port, log, workers=scenario.deployment.workers_per_host, companions=companions)
        try:
            deadline = time.monotonic() + ready_timeout_s
            while time.monotonic() < deadline and proc.alive():
                try:
                    server.stats()
                    return server
                except httpx.HTTPError:
                    time.sleep(0.05)
            last_error = server.log_tail()
        except BaseException:
            server.stop()
            raise
        server.stop()
    raise RuntimeError(f"the emulating server did not start on 127.0.0.1: {last_error.strip()}")
