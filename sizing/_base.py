"""What the public types share: the one pydantic base of every result, and `__module__` rewriting."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Result", "publish"]


class Result(BaseModel):
    """Base of every result type (evaluations, simulations, validation reports): frozen, no unknown fields.

    Unbounded or undefined numbers are None, never inf or NaN, so a result serialises to strict JSON.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


def publish(module: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Make the classes and functions in `names` report `module` (their public home) as their module.

    Tracebacks, reprs and the API docs then show `sizing.model.evaluate`, not the private file it is in.
    """
    for name in names:
        obj = namespace[name]
        if isinstance(obj, type) or callable(obj):
            # builtins and some C types refuse; they keep their own
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = module
