"""The upstream the emulating server calls through httpx: its own process, a minimal HTTP/1.1 server.

`GET /sleep?ms=X` answers `200 ok` after X milliseconds (the emulating app samples X from the scenario's
upstream latency law), on keep-alive connections, with a few microseconds of its own CPU per call so the
upstream costs the shared machine as little as possible. The harness starts
`python -m sizing.validation.upstream PORT` (with the package stubbed, so it loads no numpy) and stops it
by its process group.
"""

from __future__ import annotations

from sizing.validation.upstream._server import serve

__all__ = ["serve"]
