"""Operational sizing for FastAPI services: thread tokens, DB and HTTP pools, workers and hosts.

The public surface is re-exported here; the modules behind it are private (leading underscore).
"""

from __future__ import annotations

__all__: list[str] = []

# Validation against a real uvicorn server (python -m sizing validate); light to import.
from sizing._realserver import ValidationReport, validate

__all__ += ["ValidationReport", "validate"]
