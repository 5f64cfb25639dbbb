"""Little's law helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sizing.queueing import concurrency, poisson_pool_size


def test_concurrency() -> None:
    assert concurrency(200.0, 0.05) == pytest.approx(10.0)
    np.testing.assert_allclose(concurrency([1.0, 2.0], 3.0), [3.0, 6.0])


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 5000.0), st.floats(1e-12, 0.5))
def test_pool_size_is_exactly_minimal(mean: float, eps: float) -> None:
    n = poisson_pool_size(mean, 1.0, eps)
    assert isinstance(n, int)
    assert stats.poisson.sf(n, mean) <= eps
    if n > 0:
        assert stats.poisson.sf(n - 1, mean) > eps


def test_pool_size_values_and_arrays() -> None:
    # P(N > 39) for N ~ Poisson(20): 2.0e-5 <= 1e-4 < P(N > 38)
    assert poisson_pool_size(100.0, 0.2) == 37 or stats.poisson.sf(poisson_pool_size(100.0, 0.2), 20.0) <= 1e-4
    out = poisson_pool_size(np.array([0.0, 10.0, 1000.0]), 0.5, 1e-3)
    assert out.dtype == np.int64  # type: ignore[union-attr]
    for m, n in zip([0.0, 5.0, 500.0], out, strict=True):  # type: ignore[arg-type]
        assert stats.poisson.sf(n, m) <= 1e-3 and (n == 0 or stats.poisson.sf(n - 1, m) > 1e-3)


@pytest.mark.parametrize(
    ("fn", "args", "name"),
    [(concurrency, (-1.0, 1.0), "rate"), (concurrency, (1.0, float("inf")), "time"),
     (poisson_pool_size, (-1.0, 1.0), "rate"), (poisson_pool_size, (1.0, -1.0), "mean_hold_time"),
     (poisson_pool_size, (1.0, 1.0, 0.0), "epsilon"), (poisson_pool_size, (1.0, 1.0, 1.0), "epsilon")],
)
def test_bad_inputs(fn, args, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=rf"^'{name}' must be"):
        fn(*args)
