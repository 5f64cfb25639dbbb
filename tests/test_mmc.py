"""M/M/c: closed forms, Little's law, distributions checked by independent numerical integration."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate

from sizing.queueing import QueueResult, erlang_c, mmc


def test_example_values() -> None:
    r = mmc(80.0, 0.1, 10)
    assert isinstance(r, QueueResult)
    # Erlang C(10, 8) from the textbook recursion, independently
    b = 1.0
    for k in range(1, 11):
        b = 8.0 * b / (k + 8.0 * b)
    c_ref = 10 * b / (10 - 8 + 8 * b)
    assert r.p_wait == pytest.approx(c_ref, rel=1e-13)
    assert r.mean_wait == pytest.approx(c_ref / (100.0 - 80.0), rel=1e-13)
    assert r.wait_decay_rate == pytest.approx(20.0)
    assert r.utilization == pytest.approx(0.8) and r.offered_load == pytest.approx(8.0)
    assert r.stable is True and r.method.startswith("M/M/c")


def _sf_by_quadrature(r: QueueResult, t: float) -> float:
    """P(W + S > t) with W = atom + Exp(theta), S ~ Exp(mu), by numerical convolution."""
    mu = 1.0 / float(r.mean_service_time)
    p, th = float(r.p_wait), float(r.wait_decay_rate)
    # P(T > t) = P(S > t) + int_0^t f_W(w) P(S > t - w) dw  (continuous part of W)
    cont, _ = integrate.quad(lambda w: p * th * math.exp(-th * w) * math.exp(-mu * (t - w)), 0.0, t,
                             epsabs=1e-15, epsrel=1e-12, limit=200)
    return (1 - p) * math.exp(-mu * t) + cont + p * math.exp(-th * t)


@pytest.mark.parametrize(("lam", "s", "c"), [(8.0, 1.0, 10), (0.5, 1.0, 1), (90.0, 0.1, 10), (3.0, 0.25, 1),
                                               (30.0, 1.0, 40), (9.0, 0.1, 2)])
def test_response_distribution_matches_numerical_convolution(lam: float, s: float, c: int) -> None:
    r = mmc(lam, s, c)
    for q in (0.5, 0.9, 0.99, 0.999):
        t = r.response_quantile(q)
        assert _sf_by_quadrature(r, t) == pytest.approx(1 - q, rel=1e-9)
    for t in (0.1 * s, s, 5 * s):
        assert r.p_response_exceeds(t) == pytest.approx(_sf_by_quadrature(r, t), rel=1e-10)


def test_theta_equal_mu_limit_is_smooth() -> None:
    # c mu - lambda = mu  <=>  lambda = (c - 1) mu
    base = mmc(3.0, 1.0, 4)
    assert base.wait_decay_rate == pytest.approx(1.0)
    near = mmc(3.0 * (1 + 1e-9), 1.0, 4)
    for t in (0.5, 3.0, 20.0):
        assert base.p_response_exceeds(t) == pytest.approx(near.p_response_exceeds(t), rel=1e-7)
        assert base.p_response_exceeds(t) == pytest.approx(_sf_by_quadrature(base, t), rel=1e-10)


def test_unstable_and_idle() -> None:
    r = mmc(10.0, 1.0, 10)
    assert r.stable is False and r.p_wait == 1.0
    assert math.isinf(r.mean_wait) and math.isinf(r.mean_queue_length) and math.isinf(r.mean_response)
    assert math.isinf(r.wait_quantile(0.5)) and math.isinf(r.response_quantile(0.5))
    assert r.p_wait_exceeds(100.0) == 1.0 and r.p_response_exceeds(100.0) == 1.0
    z = mmc(0.0, 1.0, 3)
    assert z.p_wait == 0.0 and z.mean_wait == 0.0 and z.mean_queue_length == 0.0 and z.stable
    assert z.wait_quantile(0.99) == 0.0
    assert z.response_quantile(0.99) == pytest.approx(-math.log(0.01))


def test_arrays_broadcast() -> None:
    r = mmc(np.array([[5.0], [12.0]]), 1.0, np.array([6, 10, 20]))
    assert r.p_wait.shape == (2, 3)  # type: ignore[union-attr]
    assert r.stable.tolist() == [[True, True, True], [False, False, True]]  # type: ignore[union-attr]
    np.testing.assert_allclose(r.p_wait[0], [erlang_c(6, 5.0), erlang_c(10, 5.0), erlang_c(20, 5.0)], rtol=1e-14)  # type: ignore[index]
    assert np.isinf(r.mean_wait[1, 0])  # type: ignore[index]
    q = r.response_quantile(0.9)
    assert q.shape == (2, 3) and np.isinf(q[1, 1]) and np.isfinite(q[1, 2])  # type: ignore[union-attr]
    sc = mmc(5.0, 1.0, 6)
    assert float(r.p_wait[0, 0]) == pytest.approx(sc.p_wait, rel=1e-13)  # type: ignore[index]
    assert float(q[0, 0]) == pytest.approx(sc.response_quantile(0.9), rel=1e-12)  # type: ignore[index]
    assert r.p_wait_exceeds(np.array([0.0, 1.0]).reshape(2, 1, 1)).shape == (2, 2, 3)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "name"),
    [((-1.0, 1.0, 2), "arrival_rate"), ((1.0, 0.0, 2), "mean_service_time"), ((1.0, 1.0, 0), "servers"),
     ((float("inf"), 1.0, 2), "arrival_rate"), ((1.0, float("nan"), 2), "mean_service_time")],
)
def test_bad_inputs(args: tuple[float, float, int], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^'{name}' must be"):
        mmc(*args)


def test_bad_method_inputs() -> None:
    r = mmc(1.0, 1.0, 2)
    with pytest.raises(ValueError, match=r"^'q' must be"):
        r.wait_quantile(1.5)
    with pytest.raises(ValueError, match=r"^'t' must be"):
        r.p_wait_exceeds(-1.0)


stable_mmc = st.tuples(st.integers(1, 200), st.floats(0.01, 0.995), st.floats(1e-3, 1e3))


@settings(max_examples=150, deadline=None)
@given(stable_mmc)
def test_littles_law_and_bounds(x: tuple[int, float, float]) -> None:
    c, rho, s = x
    lam = rho * c / s
    r = mmc(lam, s, c)
    assert r.mean_queue_length == pytest.approx(lam * r.mean_wait, rel=1e-15, abs=0)
    assert r.mean_response == pytest.approx(r.mean_wait + s, rel=1e-15)
    assert 0.0 <= r.p_wait <= 1.0
    assert mmc(lam, s, c + 1).p_wait <= r.p_wait


@settings(max_examples=150, deadline=None)
@given(st.floats(0.001, 0.999), st.floats(1e-2, 1e2))
def test_single_server_is_mm1(rho: float, s: float) -> None:
    lam = rho / s
    mu = 1.0 / s
    r = mmc(lam, s, 1)
    assert r.p_wait == pytest.approx(rho, rel=1e-14)
    assert r.mean_wait == pytest.approx(rho / (mu - lam), rel=1e-12)
    # response of M/M/1 FIFO is Exp(mu - lambda)
    for q in (0.5, 0.9, 0.99):
        assert r.response_quantile(q) == pytest.approx(-math.log1p(-q) / (mu - lam), rel=1e-10)
    t = 1.7 * s
    assert r.p_response_exceeds(t) == pytest.approx(math.exp(-(mu - lam) * t), rel=1e-12)


round_trip_mmc = st.tuples(st.integers(1, 60), st.floats(0.3, 0.995), st.floats(1e-3, 1e3))


@settings(max_examples=150, deadline=None)
@given(round_trip_mmc, st.floats(0.01, 20.0))
def test_wait_quantile_round_trips(x: tuple[int, float, float], k: float) -> None:
    c, rho, s = x
    r = mmc(rho * c / s, s, c)
    assume(r.p_wait > 1e-6)
    t = k / r.wait_decay_rate
    pw = r.p_wait_exceeds(t)
    back = r.wait_quantile(1.0 - pw)
    # conditioning: dt = d(1-q) / (theta * pw), with 1 - q rounded to ~eps
    assert back == pytest.approx(t, rel=1e-9, abs=4e-16 / (r.wait_decay_rate * pw))


@settings(max_examples=150, deadline=None)
@given(round_trip_mmc, st.floats(0.01, 30.0))
def test_response_quantile_round_trips(x: tuple[int, float, float], k: float) -> None:
    c, rho, s = x
    r = mmc(rho * c / s, s, c)
    t = k * s
    pr = r.p_response_exceeds(t)
    assume(1e-13 < pr < 1 - 1e-9)
    back = r.response_quantile(1.0 - pr)
    dens = (r.p_response_exceeds(t * (1 - 1e-6)) - r.p_response_exceeds(t * (1 + 1e-6))) / (2e-6 * t)
    assert back == pytest.approx(t, rel=1e-8, abs=4e-16 / max(dens, 1e-300))
