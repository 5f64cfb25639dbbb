"""M/M/c/K against an independent exact-rational computation of the birth-death chain."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath as mp
import pytest

from sizing.queueing import FiniteQueueResult, mmc, mmck


def _chain(lam: Fraction, mu: Fraction, c: int, k: int) -> list[Fraction]:
    """pi_0..pi_K from detailed balance: pi_{n+1} = pi_n lam / (min(n+1, c) mu), exactly."""
    w = [Fraction(1)]
    for n in range(k):
        w.append(w[-1] * lam / (min(n + 1, c) * mu))
    total = sum(w)
    return [x / total for x in w]


@pytest.mark.parametrize(("lam", "c", "k"), [(3, 1, 1), (3, 2, 5), (10, 8, 12), (7, 8, 8), (25, 4, 30), (1, 3, 40)])
def test_against_exact_rationals(lam: int, c: int, k: int) -> None:
    pi = _chain(Fraction(lam), Fraction(1), c, k)
    r = mmck(float(lam), 1.0, c, k)
    assert isinstance(r, FiniteQueueResult)
    block = pi[k]
    thr = lam * (1 - block)
    lq = sum((n - c) * p for n, p in enumerate(pi) if n > c)
    lsys = sum(n * p for n, p in enumerate(pi))
    pw = sum(pi[c:k]) / (1 - block)
    assert r.blocking_probability == pytest.approx(float(block), rel=1e-12)
    assert r.throughput == pytest.approx(float(thr), rel=1e-12)
    assert r.mean_queue_length == pytest.approx(float(lq), rel=1e-11, abs=1e-300)
    assert r.mean_in_system == pytest.approx(float(lsys), rel=1e-12)
    assert r.mean_wait == pytest.approx(float(lq / thr), rel=1e-11, abs=1e-300)
    assert r.mean_response == pytest.approx(float(lsys / thr), rel=1e-12)
    assert r.p_wait == pytest.approx(float(pw), rel=1e-12, abs=1e-300)
    assert r.utilization == pytest.approx(float(thr / c), rel=1e-12)
    # wait distribution of admitted requests: Erlang(n - c + 1, c mu) mixture, done with mpmath here
    for t in (0.05, 0.3, 1.0, 3.0):
        ref = sum(
            mp.mpf(pi[n].numerator) / pi[n].denominator / (1 - mp.mpf(block.numerator) / block.denominator)
            * mp.gammainc(n - c + 1, c * t, mp.inf, regularized=True)
            for n in range(c, k)
        )
        assert r.p_wait_exceeds(t) == pytest.approx(float(ref), rel=1e-10, abs=1e-300)
    for q in (0.5, 0.9, 0.99):
        tq = r.wait_quantile(q)
        if 1 - q >= r.p_wait:
            assert tq == 0.0
        else:
            assert r.p_wait_exceeds(tq) == pytest.approx(1 - q, rel=1e-9)


def test_large_capacity_approaches_mmc_and_overload_is_fine() -> None:
    r = mmck(900.0, 1.0, 1000, 100_000)
    m = mmc(900.0, 1.0, 1000)
    assert r.blocking_probability < 1e-300
    assert r.mean_wait == pytest.approx(m.mean_wait, rel=1e-9)
    assert r.p_wait == pytest.approx(m.p_wait, rel=1e-9)
    over = mmck(2000.0, 1.0, 1000, 5000)  # rho = 2: stable, almost every server busy, blocking ~ 1/2
    assert over.blocking_probability == pytest.approx(0.5, rel=1e-6)
    assert over.utilization == pytest.approx(1.0, rel=1e-9)
    assert math.isfinite(over.wait_quantile(0.99))
    assert over.mean_queue_length == pytest.approx(4000.0 - 1.0, rel=1e-3)


def test_idle() -> None:
    r = mmck(0.0, 2.0, 3, 5)
    assert r.blocking_probability == 0.0 and r.mean_wait == 0.0 and r.mean_response == 2.0
    assert r.wait_quantile(0.99) == 0.0 and r.p_wait_exceeds(0.0) == 0.0


@pytest.mark.parametrize(
    ("args", "name"),
    [((-1.0, 1.0, 2, 3), "arrival_rate"), ((1.0, 0.0, 2, 3), "mean_service_time"), ((1.0, 1.0, 0, 3), "servers"),
     ((1.0, 1.0, 3, 2), "capacity"), ((1.0, 1.0, 2, 2.5), "capacity")],
)
def test_bad_inputs(args: tuple[float, float, int, int], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^'{name}' must be"):
        mmck(*args)
