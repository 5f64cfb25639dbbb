"""The app bench/instrument.py measures: two trivial routes, instrumented as $OVERHEAD_VARIANT says."""

from __future__ import annotations

import os

from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/sync/{n}")
def sync_route(n: int) -> Response:
    return Response(b"ok")


@app.get("/async/{n}")
async def async_route(n: int) -> Response:
    return Response(b"ok")


VARIANT = os.environ.get("OVERHEAD_VARIANT", "none")
if VARIANT == "probe":
    from sizing_probe import instrument

    instrument(app)
elif VARIANT == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator

    Instrumentator().instrument(app).expose(app)
