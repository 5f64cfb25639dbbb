"""Erlang B and C against 50-digit mpmath references computed here, plus properties."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sizing.queueing import erlang_b, erlang_c

mp.mp.dps = 50
TINY = mp.mpf("1e-300")


def ref_b(c: int, a: float) -> mp.mpf:
    """B(c, a): the recursion B(k) = a B(k-1) / (k + a B(k-1)) for c <= 1000, else Poisson pmf / cdf."""
    am = mp.mpf(a)
    if c <= 1000:
        b = mp.mpf(1)
        for k in range(1, c + 1):
            b = am * b / (k + am * b)
        return b
    log_pmf = -am + c * mp.log(am) - mp.loggamma(c + 1)
    if am < c and log_pmf < -800:
        # P(N <= c) >= 1/2 when a < c (the Poisson median is below a + 1), so B < 2 pmf << 1e-300
        return mp.exp(log_pmf)
    cdf = mp.gammainc(c + 1, am, mp.inf, regularized=True)
    return mp.exp(log_pmf) / cdf


def ref_c(c: int, a: float, b: mp.mpf) -> mp.mpf:
    if a >= c:
        return mp.mpf(1)
    am = mp.mpf(a)
    return c * b / (c - am + am * b)


SERVERS = [1, 2, 5, 10, 50, 100, 1000, 10**4, 10**5, 10**6]
UTILS = [0.01, 0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 0.999, 0.9999]
OVER = [1.0, 1.001, 1.05, 1.3, 2.0, 10.0]  # a >= c, Erlang B only (C is 1 there)


def _grid() -> list[tuple[int, float]]:
    pts = [(c, c * u) for c in SERVERS for u in UTILS]
    pts += [(c, c * u) for c in SERVERS for u in OVER]
    # around the switch to the Gauss-Laguerre form, a - c = 5 sqrt(c)
    pts += [(c, c + k * c**0.5) for c in (1, 10, 1000, 10**5) for k in (4.9, 5.0, 5.1, 8.0)]
    return pts


def _tol(c: int) -> float:
    return 1e-12 if c <= 10**4 else 1e-9


def _check(got: float, ref: mp.mpf, c: int, what: str) -> None:
    if ref < TINY:
        assert abs(got) < 1e-300, (what, got, ref)
        return
    rel = abs(mp.mpf(got) / ref - 1)
    assert rel <= _tol(c), (what, c, float(ref), got, float(rel))


def test_against_mpmath_grid() -> None:
    pts = _grid()
    cs = np.array([p[0] for p in pts])
    as_ = np.array([p[1] for p in pts])
    vec_b = erlang_b(cs, as_)
    vec_c = erlang_c(cs, as_)
    for i, (c, a) in enumerate(pts):
        b = ref_b(c, a)
        cc = ref_c(c, a, b)
        _check(erlang_b(c, a), b, c, "scalar B")
        _check(float(vec_b[i]), b, c, "vector B")
        _check(erlang_c(c, a), cc, c, "scalar C")
        _check(float(vec_c[i]), cc, c, "vector C")


def test_random_points_against_mpmath() -> None:
    rng = np.random.default_rng(20240611)
    c = rng.integers(1, 3000, size=60)
    a = c * rng.uniform(0.01, 1.5, size=60)
    got_b = erlang_b(c, a)
    got_c = erlang_c(c, a)
    for i in range(c.size):
        b = ref_b(int(c[i]), float(a[i]))
        _check(float(got_b[i]), b, int(c[i]), "B")
        _check(float(got_c[i]), ref_c(int(c[i]), float(a[i]), b), int(c[i]), "C")


def test_known_values() -> None:
    # textbook values: B(10, 5) = 0.01838..., C(2, 1) = 1/3
    assert erlang_b(1, 1.0) == pytest.approx(0.5, rel=1e-15)
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-15)
    assert erlang_b(10, 5.0) == pytest.approx(0.018384, abs=1e-6)


def test_edges_and_types() -> None:
    assert erlang_b(5, 0.0) == 0.0 and erlang_c(5, 0.0) == 0.0
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(5, 7.5) == 1.0
    assert isinstance(erlang_b(3, 1.0), float) and isinstance(erlang_c(3, 1.0), float)
    out = erlang_c(np.array([[1, 2], [3, 4]]), 1.5)
    assert isinstance(out, np.ndarray) and out.shape == (2, 2)
    # erlang_b for a far above c approaches 1 - c/a
    assert erlang_b(10, 1e9) == pytest.approx(1 - 1e-8, rel=1e-12)
    big = erlang_c(np.array([10**6]), np.array([10**6 * 0.999999]))
    assert np.all(np.isfinite(big)) and 0 < big[0] <= 1


@pytest.mark.parametrize(
    ("args", "name"),
    [((0, 1.0), "servers"), ((2.5, 1.0), "servers"), ((3, -1.0), "offered_load"), ((3, float("nan")), "offered_load")],
)
def test_bad_inputs(args: tuple[float, float], name: str) -> None:
    for fn in (erlang_b, erlang_c):
        with pytest.raises(ValueError, match=rf"^'{name}' must be"):
            fn(*args)


@settings(max_examples=200, deadline=None)
@given(c=st.integers(1, 5000), u=st.floats(0.0, 3.0))
@example(c=5, u=1.401298464324817e-45)  # once gave C one ulp below B: (c B) / den rounded down
def test_b_le_c_le_1_and_monotone(c: int, u: float) -> None:
    a = c * u
    b = erlang_b(c, a)
    cc = erlang_c(c, a)
    assert 0.0 <= b <= cc <= 1.0
    # more servers never block or delay more
    assert erlang_b(c + 1, a) <= b
    assert erlang_c(c + 1, a) <= cc
    # one recursion step B(c+1) = a B / (c + 1 + a B) holds to rounding
    if b > 1e-290:
        assert erlang_b(c + 1, a) == pytest.approx(a * b / (c + 1 + a * b), rel=1e-12)
