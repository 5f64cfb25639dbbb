"""A delay server on asyncio (uvloop when installed): one protocol object per connection, no framework."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import cast

__all__ = ["serve"]

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"
_BAD = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_MAX_HEADER = 16_384
_MAX_DELAY_S = 600.0


def _delay_s(request_line: bytes) -> float | None:
    """The delay asked by `GET /sleep?ms=X HTTP/1.1`, or None for anything else."""
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[1].startswith(b"/sleep?ms="):
        return None
    try:
        ms = float(parts[1][len(b"/sleep?ms=") :])
    except ValueError:
        return None
    return ms / 1000.0 if 0.0 <= ms / 1000.0 <= _MAX_DELAY_S else None


class _Connection(asyncio.Protocol):
    """Requests on one connection are answered in order; each waits its own delay from its arrival."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.pending: list[asyncio.TimerHandle] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            delay = _delay_s(head.split(b"\r\n", 1)[0])
            if delay is None:
                self._write(_BAD)
                self._close()
                return
            loop = asyncio.get_running_loop()
            self.pending.append(loop.call_later(delay, self._write, _OK))
        if len(self.buffer) > _MAX_HEADER:
            self._write(_BAD)
            self._close()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in self.pending:
            handle.cancel()
        self.transport = None


async def _main(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)
    server = await loop.create_server(_Connection, "127.0.0.1", port, backlog=4096, reuse_address=True)
    async with server:
        await stop


def serve(port: int) -> int:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    with contextlib.suppress(KeyboardInterrupt):
        try:
            import uvloop
        except ImportError:  # uvicorn[standard] brings uvloop; plain asyncio works too
            asyncio.run(_main(port))
        else:
            uvloop.run(_main(port))
    return 0
