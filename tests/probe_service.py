"""A small service instrumented by the probe, for tests that run it under a real uvicorn (not a test module).

    SIZING_PROBE_DIR=/some/dir uvicorn probe_service:app --app-dir tests --workers 2
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from sizing_probe import instrument

app = FastAPI()


@app.get("/work/{n}")
def work(n: int) -> Response:
    time.sleep(0.002)
    return Response(b"ok")


@app.get("/pid")
async def pid() -> Response:
    import os

    return Response(str(os.getpid()).encode())


instrument(app)
