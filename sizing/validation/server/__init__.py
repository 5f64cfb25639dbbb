"""The emulating FastAPI server: one route per endpoint class, doing exactly what `request_phases` says.

It runs in its own process: the harness starts `uvicorn sizing.validation.server:create_app --factory`
with the scenario in the environment variable named by `CONFIG_ENV`, and drives it over HTTP. Importing it
loads fastapi and the scenario models, not numpy, scipy or the model (the harness boots the process with
the `sizing` package stubbed, so a worker's heap, and its garbage-collection pauses, stay those of an
ordinary service).

The app
    create_app, CONFIG_ENV, HANDOFF_BODY_MS
What it measures and controls about itself (public for unit tests of the controls)
    burn, Meter, GcClock, Control, control_cpu, Admission, AdmissionGate
"""

from __future__ import annotations

from sizing.validation.server._app import CONFIG_ENV, HANDOFF_BODY_MS, create_app
from sizing.validation.server._instruments import (
    Admission,
    AdmissionGate,
    Control,
    GcClock,
    Meter,
    burn,
    control_cpu,
)

__all__ = [
    "CONFIG_ENV",
    "HANDOFF_BODY_MS",
    "Admission",
    "AdmissionGate",
    "Control",
    "GcClock",
    "Meter",
    "burn",
    "control_cpu",
    "create_app",
]
