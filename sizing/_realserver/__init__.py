"""Validation against a real FastAPI server under uvicorn (private; public names are in `sizing`)."""

from sizing._realserver._harness import validate
from sizing._realserver._report import ValidationReport

__all__ = ["ValidationReport", "validate"]
