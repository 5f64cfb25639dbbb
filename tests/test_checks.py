"""Argument checks, as a caller meets them: through the public functions, in one voice everywhere.

A wrong type is a TypeError, a wrong value a ValueError; both name the parameter, what it must be and what
it got (attrs' style): the queueing core, the model, the simulator and the validation harness alike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sizing import Scenario, evaluate, latency_at, preset, simulate
from sizing.queueing import erlang_b, erlang_c, ggc, mmc
from sizing.simulation import simulate_queue
from sizing.validation import validate

S = preset("mixed service")


def test_servers_message_is_exact() -> None:
    with pytest.raises(ValueError) as err:
        erlang_c(0, 1.0)
    assert str(err.value) == "'servers' must be an integer >= 1 (got 0)"


@pytest.mark.parametrize(
    ("call", "shown", "range_text"),
    [
        (lambda: mmc(-1.5, 1.0, 4), "-1.5", ">= 0"),
        (lambda: mmc(math.nan, 1.0, 4), "nan", ">= 0"),
        (lambda: mmc(math.inf, 1.0, 4), "inf", ">= 0"),
        (lambda: mmc(1.0, 0.0, 4), "0.0", "> 0"),
        (lambda: erlang_b(2.5, 1.0), "2.5", ">= 1"),
        (lambda: erlang_b(-3, 1.0), "-3", ">= 1"),
        (lambda: mmc(1.0, 1.0, 4).wait_quantile(1.5), "1.5", "in [0, 1]"),
    ],
)
def test_numeric_rejections_name_parameter_value_and_range(call, shown, range_text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith("'") and "' must be" in msg
    assert f"(got {shown})" in msg
    assert range_text in msg


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: mmc([1.0, 2.0, -3.0, -4.0], 1.0, 4), "-3.0"),
        (lambda: mmc(1.0, np.array([[1.0, 0.0]]), 4), "0.0"),
        (lambda: erlang_c([4, 0, -1], 1.0), "0"),
        (lambda: erlang_c([4.0, 5.5], 1.0), "5.5"),
    ],
)
def test_array_rejections_show_the_first_offending_element(call, shown) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"^'\w+' must be .*\(got " + shown.replace(".", r"\.") + r"\)$"):
        call()


def test_integral_floats_and_numpy_integers_are_servers() -> None:
    assert erlang_c(4.0, 2.0) == erlang_c(4, 2.0) == erlang_c(np.int64(4), 2.0)
    out = erlang_c([1.0, 2.0], 0.5)
    assert isinstance(out, np.ndarray) and out.shape == (2,)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang_c(True, 1.0), "'servers' must be an integer or an array of them (got True that is a bool)"),
        (lambda: mmc("fast", 1.0, 4), "'arrival_rate' must be a real number or an array of them (got 'fast' that is a str)"),
        (lambda: evaluate(S.model_dump()), "'scenario' must be a sizing.Scenario (got {"),
        (lambda: simulate(S, replications=2.0), "'replications' must be an integer (got 2.0 that is a float)"),
        (lambda: simulate_queue(10.0, 1.0, "4"), "'servers' must be an integer (got '4' that is a str)"),
        (lambda: simulate_queue(10.0, 1.0, 4, control_variate=1),
         "'control_variate' must be True or False (got 1 that is a int)"),
    ],
)
def test_wrong_types_are_type_errors(call, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError) as err:
        call()
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: latency_at(S, 0.0), "'rps' must be a finite number > 0 (got 0.0)"),
        (lambda: evaluate(S, rps=math.nan), "'rps' must be a finite number > 0 (got nan)"),
        (lambda: simulate(S, replications=0), "'replications' must be an integer in [1, 1000] (got 0)"),
        (lambda: simulate(S, warmup_fraction=0.95), "'warmup_fraction' must be a finite number in [0, 0.9] (got 0.95)"),
        (lambda: simulate(S, max_wall_seconds=0), "'max_wall_seconds' must be a finite number in (0, 86400] (got 0)"),
        (lambda: simulate_queue(10.0, 1.0, 4, service_family="pareto"),
         "'service_family' must be in ('auto', 'exponential', 'lognormal', 'constant') (got 'pareto')"),
        (lambda: simulate_queue(10.0, 1.0, 4, quantiles=(0.5, 1.0)),
         "'quantiles' must be a finite number in (0, 1) (got 1.0)"),
        (lambda: Scenario.simple(rps=10, sync_fraction=2, upstream_latency_ms=0),
         "'sync_fraction' must be a finite number in [0, 1] (got 2)"),
        (lambda: validate(S, overload="drop"), "'overload' must be in ('shed', 'queue') (got 'drop')"),
        (lambda: validate(S, seconds=0.5), "'seconds' must be a finite number in [1, 600] (got 0.5)"),
    ],
)
def test_wrong_values_are_value_errors(call, message) -> None:  # type: ignore[no-untyped-def]
    """The same message shape from the model, the simulator, the scenario and the validation harness (which
    refuses before anything starts)."""
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_ggc_broadcasts_and_checks_every_argument() -> None:
    with pytest.raises(ValueError, match=r"^'arrival_cv2' must be"):
        ggc(1.0, 1.0, 4, -1.0)
    assert ggc(np.array([1.0, 2.0]), 1.0, 4).p_wait.shape == (2,)  # type: ignore[union-attr]
