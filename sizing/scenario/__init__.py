"""The scenario: the public input format, and what one request does inside a worker process.

A scenario is what a FastAPI service does and how it is deployed, as JSON that scripts and CI keep:
field names may be added, never renamed. Every time is in milliseconds (`_ms`), every rate in requests
per second (`rps`), every variability a squared coefficient of variation (`_cv2`).

Input format
    Scenario, Traffic, Endpoint, Deployment, Targets, Runtime, lognormal_cv2_from_p99
Presets (scenario files shipped in `sizing/scenario/presets/`)
    PRESETS, preset, preset_file
Reading untrusted input (one size cap, one error type, one line per bad field)
    scenario_from_json, load_json, error_lines, InputError, MAX_SCENARIO_BYTES
The request lifecycle (the reference semantics the model, the simulator and the validation server follow)
    request_phases, Phase, Step

This package imports pydantic and nothing heavier: the validation server's process and the probe read
scenarios without loading numpy.

>>> from sizing.scenario import preset, request_phases
>>> crud = preset("sync SQLAlchemy CRUD")
>>> " ".join(str(p.holds) for p in request_phases(crud.endpoints[0]))
'loop token token token'
"""

from __future__ import annotations

from sizing._base import publish
from sizing.scenario._io import MAX_SCENARIO_BYTES, InputError, error_lines, load_json, scenario_from_json
from sizing.scenario._lifecycle import Phase, Step, StepKind, request_phases
from sizing.scenario._models import (
    Deployment,
    Endpoint,
    Runtime,
    Scenario,
    Targets,
    Traffic,
    lognormal_cv2_from_p99,
)
from sizing.scenario._presets import PRESETS, preset, preset_file

__all__ = [
    "MAX_SCENARIO_BYTES",
    "PRESETS",
    "Deployment",
    "Endpoint",
    "InputError",
    "Phase",
    "Runtime",
    "Scenario",
    "Step",
    "StepKind",
    "Targets",
    "Traffic",
    "error_lines",
    "load_json",
    "lognormal_cv2_from_p99",
    "preset",
    "preset_file",
    "request_phases",
    "scenario_from_json",
]

publish(__name__, globals(), __all__)
