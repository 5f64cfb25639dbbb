"""Argument checks for every public function of :mod:`sizing`, in one place and one voice.

A wrong type raises :class:`TypeError`, a wrong value :class:`ValueError`; both messages name the
parameter, what it must be and what it got, in the style of attrs' validators::

    'servers' must be an integer (got '4' that is a str)
    'servers' must be an integer >= 1 (got 0)
    'overload' must be in ('shed', 'queue') (got 'drop')

The numeric helpers accept a Python scalar or an array-like, reject NaN and infinities, and return the
validated value: a Python ``float`` (``int`` for :func:`check_servers`) for scalar input, a float
(integer) ndarray otherwise, so callers can write ``rate = check_positive("rate", rate)``. For arrays the
message shows the first offending element.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    # numpy is imported where an array is checked, not here: the scenario models use the scalar checks
    # inside the validation server's process, which loads no numpy.
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "check_callable",
    "check_choice",
    "check_finite",
    "check_fraction",
    "check_int",
    "check_nonnegative",
    "check_open_fraction",
    "check_positive",
    "check_real",
    "check_servers",
    "check_type",
]

_Scalar = float | int
_T = TypeVar("_T")


def value_error(name: str, requirement: str, got: Any) -> ValueError:
    """`'name' must be <requirement> (got <got!r>)`."""
    return ValueError(f"'{name}' must be {requirement} (got {got!r})")


def type_error(name: str, expected: str, got: Any) -> TypeError:
    """`'name' must be <expected> (got <got!r> that is a <type>)`."""
    return TypeError(f"'{name}' must be {expected} (got {got!r} that is a {type(got).__name__})")


def _is_real(value: object) -> bool:
    # numpy registers its scalar types with the numbers ABCs; its bool_ is not Integral, Python's bool is.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _range_text(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return ""


def check_type(name: str, value: _T, types: type | tuple[type, ...], expected: str) -> _T:
    """Require an instance of `types`; `expected` is how the message names them (e.g. "a sizing.Scenario")."""
    if not isinstance(value, types):
        raise type_error(name, expected, value)
    return value


def check_int(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """Require an integer (bool refused) in [lo, hi]; returns it as a Python int."""
    if not _is_int(value):
        raise type_error(name, "an integer", value)
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise value_error(name, "an integer " + _range_text(lo, hi, False, False), value)
    return v


def check_real(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Require a finite real number in the interval given (open ends on request); returns a float."""
    if not _is_real(value):
        raise type_error(name, "a real number", value)
    v = float(value)
    ok = math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        raise value_error(name, ("a finite number " + _range_text(lo, hi, lo_open, hi_open)).rstrip(), value)
    return v


def check_choice(name: str, value: _T, options: Collection[Any]) -> _T:
    """Require one of `options` (compared with ==; the message lists them)."""
    if value not in options:
        raise value_error(name, f"in {tuple(options)!r}", value)
    return value


def check_callable(name: str, value: _T, expected: str = "a callable") -> _T:
    if not callable(value):
        raise type_error(name, expected, value)
    return value


def _as_array(name: str, value: ArrayLike, requirement: str) -> NDArray[np.float64]:
    import numpy as np

    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise type_error(name, "a real number or an array of them", value) from None
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
    if isinstance(value, bool | str | bytes):
        raise type_error(name, "a real number or an array of them", value)
    if isinstance(value, float | int):
        v = float(value)
        if not scalar_ok(v):
            raise value_error(name, requirement, value)
        return v
    import numpy as np

    arr = _as_array(name, value, requirement)
    if arr.size:
        # Fast path: two reductions (NaN propagates through min/max and fails every test).
        lo = arr.min()
        hi = arr.max()
        if not (math.isfinite(lo) and math.isfinite(hi) and bool(np.all(array_ok(np.array([lo, hi]))))):
            ok = np.isfinite(arr)
            ok[ok] = array_ok(arr[ok])
            raise value_error(name, requirement, _first_bad(arr, ok))
    if arr.ndim == 0:
        return float(arr)
    return arr


@overload
def check_finite(name: str, value: _Scalar) -> float: ...
@overload
def check_finite(name: str, value: ArrayLike) -> float | NDArray[np.float64]: ...
def check_finite(name: str, value: ArrayLike) -> float | NDArray[np.float64]:
    """Require a finite real number (or array of them)."""
    return _check(name, value, "a finite number", math.isfinite, lambda a: a == a)


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
    if isinstance(value, bool | str | bytes):
        raise type_error(name, "an integer or an array of them", value)
    if isinstance(value, int):
        if value < 1:
            raise value_error(name, requirement, value)
        return value
    if isinstance(value, float):
        if not (math.isfinite(value) and value >= 1.0 and value == math.floor(value) and value < 2.0**62):
            raise value_error(name, requirement, value)
        return int(value)
    import numpy as np

    raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if raw.dtype.kind in "iu":
        if raw.size and raw.min() < 1:
            raise value_error(name, requirement, raw[raw < 1].flat[0].item())
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
            raise value_error(name, requirement, _first_bad(arr, ok))
    if arr.ndim == 0:
        return int(arr)
    return arr.astype(np.int64)
