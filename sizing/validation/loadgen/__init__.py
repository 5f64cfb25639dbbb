"""The load generator: its own process, an open-loop seeded schedule sent to the server on 127.0.0.1.

The harness builds a `LoadSpec` and starts `python -m sizing.validation.loadgen SPEC_JSON`, which prints a
`LoadResult` (JSON) on stdout. Importing this package loads the spec only (numpy, no event loop): the
generator itself (`_generator`, uvloop and a minimal HTTP/1.1 client) is imported by `__main__`.
"""

from __future__ import annotations

from sizing.validation.loadgen._spec import (
    LoadResult,
    LoadSpec,
    arrival_offsets,
    class_choices,
    runqueue_wait_s,
)

__all__ = ["LoadResult", "LoadSpec", "arrival_offsets", "class_choices", "runqueue_wait_s"]
