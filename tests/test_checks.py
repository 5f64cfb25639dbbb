"""Argument validation helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sizing._checks import (
    check_finite,
    check_fraction,
    check_nonnegative,
    check_open_fraction,
    check_positive,
    check_servers,
)


def test_servers_message_is_exact() -> None:
    with pytest.raises(ValueError) as err:
        check_servers("servers", 0)
    assert str(err.value) == "servers must be an integer >= 1, got 0"


@pytest.mark.parametrize(
    ("fn", "bad", "shown", "range_text"),
    [
        (check_nonnegative, -1.5, "-1.5", ">= 0"),
        (check_nonnegative, math.nan, "nan", ">= 0"),
        (check_nonnegative, math.inf, "inf", ">= 0"),
        (check_positive, 0.0, "0.0", "> 0"),
        (check_fraction, 1.5, "1.5", "[0, 1]"),
        (check_open_fraction, 0.0, "0.0", "(0, 1)"),
        (check_open_fraction, 1.0, "1.0", "(0, 1)"),
        (check_servers, 2.5, "2.5", ">= 1"),
        (check_servers, -3, "-3", ">= 1"),
        (check_finite, math.inf, "inf", "finite"),
    ],
)
def test_scalar_rejections_name_parameter_value_and_range(fn, bad, shown, range_text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as err:
        fn("param_x", bad)
    msg = str(err.value)
    assert msg.startswith("param_x must be")
    assert shown in msg
    assert range_text in msg


@pytest.mark.parametrize(
    ("fn", "arr", "shown"),
    [
        (check_nonnegative, [1.0, 2.0, -3.0, -4.0], "-3.0"),
        (check_positive, np.array([[1.0, 0.0]]), "0.0"),
        (check_fraction, [0.5, np.nan], "nan"),
        (check_servers, [4, 0, -1], "0"),
        (check_servers, [4.0, 5.5], "5.5"),
    ],
)
def test_array_rejections_show_first_offending_element(fn, arr, shown) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"^arr_p must be .*got " + shown.replace(".", r"\.") + "$"):
        fn("arr_p", arr)


def test_accepted_values_and_types() -> None:
    assert check_servers("c", 4.0) == 4 and isinstance(check_servers("c", 4.0), int)
    assert check_servers("c", np.int64(3)) == 3
    out = check_servers("c", [1.0, 2.0])
    assert isinstance(out, np.ndarray) and out.dtype == np.int64
    assert check_nonnegative("x", 0) == 0.0 and isinstance(check_nonnegative("x", 0), float)
    assert check_fraction("f", 1.0) == 1.0
    assert check_open_fraction("f", 0.5) == 0.5
    np.testing.assert_array_equal(check_positive("x", [1, 2]), [1.0, 2.0])
    with pytest.raises(ValueError, match="servers"):
        check_servers("servers", True)
    with pytest.raises(ValueError, match="rate"):
        check_nonnegative("rate", "fast")
