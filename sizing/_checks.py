"""Shared argument validation for the public functions of :mod:`sizing`.

Every helper accepts a Python scalar or an array-like, rejects NaN and infinities and raises a
:class:`ValueError` whose message names the parameter, its value (the first offending element for
arrays) and the valid range, e.g. ``servers must be an integer >= 1, got 0``.

Each helper returns the validated value: a Python ``float`` (``int`` for :func:`check_servers`) for
scalar input, a float (integer) ndarray otherwise, so callers can write
``rate = check_positive("rate", rate)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "check_finite",
    "check_fraction",
    "check_nonnegative",
    "check_open_fraction",
    "check_positive",
    "check_servers",
]

_Scalar = float | int


def _fail(name: str, bad: Any, requirement: str) -> ValueError:
    return ValueError(f"{name} must be {requirement}, got {bad!r}")


def _as_array(name: str, value: ArrayLike, requirement: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail(name, value, requirement) from None
    return arr


def _first_bad(arr: NDArray[Any], ok: NDArray[np.bool_]) -> Any:
    bad = arr[~ok]
    item = bad.flat[0].item()
    return item


def _check(
    name: str,
    value: ArrayLike,
    requirement: str,
    scalar_ok: Callable[[float], bool],
    array_ok: Callable[[NDArray[np.float64]], NDArray[np.bool_]],
) -> float | NDArray[np.float64]:
    if isinstance(value, bool):
        raise _fail(name, value, requirement)
    if isinstance(value, float | int):
        v = float(value)
        if not scalar_ok(v):
            raise _fail(name, value, requirement)
        return v
    arr = _as_array(name, value, requirement)
    if arr.size:
        # Fast path: two reductions (NaN propagates through min/max and fails every test).
        lo = arr.min()
        hi = arr.max()
        if not (math.isfinite(lo) and math.isfinite(hi) and bool(np.all(array_ok(np.array([lo, hi]))))):
            ok = np.isfinite(arr)
            ok[ok] = array_ok(arr[ok])
            raise _fail(name, _first_bad(arr, ok), requirement)
    if arr.ndim == 0:
        return float(arr)
    return arr


@overload
def check_finite(name: str, value: _Scalar) -> float: ...
@overload
def check_finite(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_finite(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a finite real number (or array of them)."""
    return _check(name, value, "a finite number", math.isfinite, lambda a: np.ones(a.shape, dtype=bool))


@overload
def check_nonnegative(name: str, value: _Scalar) -> float: ...
@overload
def check_nonnegative(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_nonnegative(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a finite number >= 0 (or array of them)."""
    return _check(
        name, value, "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0.0, lambda a: a >= 0.0
    )


@overload
def check_positive(name: str, value: _Scalar) -> float: ...
@overload
def check_positive(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_positive(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a finite number > 0 (or array of them)."""
    return _check(
        name, value, "a finite number > 0", lambda v: math.isfinite(v) and v > 0.0, lambda a: a > 0.0
    )


@overload
def check_fraction(name: str, value: _Scalar) -> float: ...
@overload
def check_fraction(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_fraction(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a number in the closed interval [0, 1] (or array of them)."""
    return _check(
        name,
        value,
        "a number in [0, 1]",
        lambda v: 0.0 <= v <= 1.0,
        lambda a: (a >= 0.0) & (a <= 1.0),
    )


@overload
def check_open_fraction(name: str, value: _Scalar) -> float: ...
@overload
def check_open_fraction(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_open_fraction(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a number in the open interval (0, 1) (or array of them)."""
    return _check(
        name,
        value,
        "a number in (0, 1)",
        lambda v: 0.0 < v < 1.0,
        lambda a: (a > 0.0) & (a < 1.0),
    )


@overload
def check_servers(name: str, value: _Scalar) -> int: ...
@overload
def check_servers(name: str, value: ArrayLike) -> int | NDArray[np.int64]: ...
def check_servers(name: str, value: ArrayLike) -> int | NDArray[np.int64]:
    """Require an integer >= 1 (or array of them); integral floats such as ``4.0`` are accepted.

    Returns an ``int`` for scalar input, an ``int64`` ndarray otherwise.
    """
    requirement = "an integer >= 1"
    if isinstance(value, bool):
        raise _fail(name, value, requirement)
    if isinstance(value, int):
        if value < 1:
            raise _fail(name, value, requirement)
        return value
    if isinstance(value, float):
        if not (math.isfinite(value) and value >= 1.0 and value == math.floor(value) and value < 2.0**62):
            raise _fail(name, value, requirement)
        return int(value)
    raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if raw.dtype.kind in "iu":
        if raw.size and raw.min() < 1:
            raise _fail(name, raw[raw < 1].flat[0].item(), requirement)
        if raw.ndim == 0:
            return int(raw)
        return raw.astype(np.int64, copy=False)
    arr = _as_array(name, value, requirement)
    if arr.size:
        lo = arr.min()
        hi = arr.max()
        if not (lo >= 1.0 and hi < 2.0**62 and bool(np.all(arr == np.floor(arr)))):
            ok = np.isfinite(arr)
            fin = arr[ok]
            ok[ok] = (fin >= 1.0) & (fin == np.floor(fin)) & (fin < 2.0**62)
            raise _fail(name, _first_bad(arr, ok), requirement)
    if arr.ndim == 0:
        return int(arr)
    return arr.astype(np.int64)
