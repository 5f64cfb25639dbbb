"""Scenarios for common service shapes, kept as scenario JSON files in `sizing/scenario/presets/`.

They are starting points for `python -m sizing example`, the app's preset picker, the docs and the tests,
and they are plain scenario files: copy one, edit it, and `python -m sizing evaluate` reads it.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from importlib import resources

from sizing.scenario._models import Scenario

__all__ = ["PRESETS", "preset", "preset_file"]

# Display name -> file in presets/; the order is the app's.
_FILES = {
    "mixed service": "mixed-service.json",
    "sync SQLAlchemy CRUD": "sync-sqlalchemy-crud.json",
    "async httpx gateway": "async-httpx-gateway.json",
}


def preset_file(name: str) -> str:
    """The JSON text of the preset called `name` (a scenario file as shipped)."""
    if name not in _FILES:
        raise ValueError(f"'name' must be in {tuple(_FILES)!r} (got {name!r})")
    return resources.files("sizing.scenario").joinpath("presets", _FILES[name]).read_text(encoding="utf-8")


PRESETS: Mapping[str, Scenario] = types.MappingProxyType(
    {name: Scenario.model_validate_json(preset_file(name)) for name in _FILES}
)


def preset(name: str = "mixed service") -> Scenario:
    """A ready scenario by name; `PRESETS` maps every name to its scenario (frozen, safe to share)."""
    if name not in PRESETS:
        raise ValueError(f"'name' must be in {tuple(PRESETS)!r} (got {name!r})")
    return PRESETS[name]
