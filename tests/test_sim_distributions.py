"""The samplers have the mean and cv2 they are built from (the engine relies on nothing else)."""

from __future__ import annotations

import numpy as np
import pytest

from sizing.simulation import (
    Sampler,
    Stream,
    arrival_sampler,
    empirical_sampler,
    service_sampler,
    sum_sampler,
)


def moments(s: Sampler, n: int = 1_000_000) -> tuple[float, float]:
    x = s.draw(np.random.default_rng(0), n)
    assert (x >= 0).all()
    m = float(x.mean())
    return m, float(x.var()) / (m * m)


@pytest.mark.parametrize(
    ("sampler", "family"),
    [
        (arrival_sampler(2.0, 0.0), "constant"),
        (arrival_sampler(2.0, 0.25), "gamma"),
        (arrival_sampler(2.0, 1.0), "exponential"),
        (arrival_sampler(2.0, 4.0), "hyperexponential"),
        (service_sampler(5.0, 0.0), "constant"),
        (service_sampler(5.0, 0.5), "lognormal"),
        (service_sampler(5.0, 1.0), "lognormal"),  # cv2 = 1 is a lognormal too (the lifecycle says so)
        (service_sampler(5.0, 1.0, "exponential"), "exponential"),
    ],
)
def test_mean_and_cv2(sampler: Sampler, family: str) -> None:
    assert sampler.family == family
    m, cv2 = moments(sampler)
    assert m == pytest.approx(sampler.mean, rel=0.01)
    assert cv2 == pytest.approx(sampler.cv2, abs=0.03 * max(sampler.cv2, 1.0))


def test_sum_merges_delays() -> None:
    s = sum_sampler([service_sampler(3.0, 1.0), Sampler("constant", 0.4, 0.0), Sampler("constant", 0.0, 0.0)])
    assert s.family == "sum" and s.mean == pytest.approx(3.4)
    m, cv2 = moments(s)
    assert m == pytest.approx(3.4, rel=0.01) and cv2 == pytest.approx(9.0 / 3.4**2, rel=0.05)
    assert sum_sampler([Sampler("constant", 0.4, 0.0), Sampler("constant", 0.1, 0.0)]).mean == pytest.approx(0.5)
    assert sum_sampler([]).mean == 0.0


def test_empirical_resamples_the_values() -> None:
    s = empirical_sampler([1.0, 2.0, 3.0], "db")
    assert s.mean == pytest.approx(2.0)
    assert set(s.draw(np.random.default_rng(1), 1000).tolist()) == {1.0, 2.0, 3.0}


def test_stream_serves_blocks_in_order() -> None:
    a = Stream(arrival_sampler(1.0, 1.0), np.random.default_rng(3), block=7)
    b = arrival_sampler(1.0, 1.0).draw(np.random.default_rng(3), 7)
    assert [a.next() for _ in range(7)] == b.tolist()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: arrival_sampler(0.0, 1.0), "'interarrival_mean' must be"),
        (lambda: service_sampler(-1.0, 1.0), "'service_mean' must be"),
        (lambda: service_sampler(1.0, 2.0, "exponential"), "cv2 = 1"),
        (lambda: service_sampler(1.0, float("inf")), "'service_cv2' must be"),
        (lambda: empirical_sampler([float("nan")], "io"), "finite"),
    ],
)
def test_bad_parameters(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]
