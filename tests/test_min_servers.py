"""min_servers: exact minimality, agreement with a linear scan, and the error cases."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sizing.queueing import erlang_c, ggc, min_servers, mmc


def _meets(lam: float, s: float, c: int, ca2: float, cs2: float, p: float | None, w: float | None,
           sl: tuple[float, float] | None, wq: tuple[float, float] | None) -> bool:
    r = mmc(lam, s, c) if ca2 == 1.0 and cs2 == 1.0 else ggc(lam, s, c, ca2, cs2)
    if not r.stable:
        return False
    tol = 1e-12
    ok = True
    if p is not None:
        ok &= r.p_wait <= p * (1 + tol)
    if w is not None:
        ok &= r.mean_wait <= w * (1 + tol)
    if sl is not None:
        ok &= r.p_wait_exceeds(sl[0]) <= (1 - sl[1]) * (1 + tol)
    if wq is not None:
        ok &= r.wait_quantile(wq[0]) <= wq[1] * (1 + tol) + 1e-15
    return bool(ok)


def _fails(lam: float, s: float, c: int, ca2: float, cs2: float, p: float | None, w: float | None,
           sl: tuple[float, float] | None, wq: tuple[float, float] | None) -> bool:
    r = mmc(lam, s, c) if ca2 == 1.0 and cs2 == 1.0 else ggc(lam, s, c, ca2, cs2)
    if not r.stable:
        return True
    tol = 1e-12
    bad = False
    if p is not None:
        bad |= r.p_wait > p * (1 - tol)
    if w is not None:
        bad |= r.mean_wait > w * (1 - tol)
    if sl is not None:
        bad |= r.p_wait_exceeds(sl[0]) > (1 - sl[1]) * (1 - tol)
    if wq is not None:
        bad |= r.p_wait_exceeds(wq[1]) > (1 - wq[0]) * (1 - tol)
    return bool(bad)


targets = st.fixed_dictionaries(
    {},
    optional={
        "max_p_wait": st.floats(0.001, 0.9),
        "max_mean_wait": st.floats(1e-4, 2.0),
        "service_level": st.tuples(st.floats(0.0, 1.0), st.floats(0.5, 0.999)),
        "max_wait_quantile": st.tuples(st.floats(0.5, 0.999), st.floats(0.0, 1.0)),
    },
).filter(bool)


@settings(max_examples=150, deadline=None)
@given(st.floats(0.01, 3000.0), st.floats(0.05, 5.0), targets,
       st.sampled_from([(1.0, 1.0), (1.0, 0.0), (2.0, 0.5), (0.5, 2.0)]))
def test_minimal(lam: float, s: float, tg: dict[str, object], cv: tuple[float, float]) -> None:
    c = min_servers(lam, s, arrival_cv2=cv[0], service_cv2=cv[1], **tg)  # type: ignore[arg-type]
    args = (tg.get("max_p_wait"), tg.get("max_mean_wait"), tg.get("service_level"), tg.get("max_wait_quantile"))
    assert _meets(lam, s, c, *cv, *args)  # type: ignore[arg-type]
    if c > 1:
        assert _fails(lam, s, c - 1, *cv, *args)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.floats(0.1, 300.0), st.floats(0.001, 0.9), st.sampled_from([(1.0, 1.0), (1.5, 0.0), (0.5, 2.0)]))
def test_metrics_monotone_so_bisection_is_valid(a: float, p: float, cv: tuple[float, float]) -> None:
    first = math.floor(a) + 1
    cs = range(first, first + 40)
    res = [ggc(a, 1.0, c, *cv) for c in cs]
    for r0, r1 in itertools.pairwise(res):
        assert r1.p_wait <= r0.p_wait + 1e-15
        assert r1.mean_wait <= r0.mean_wait * (1 + 1e-12)
        assert r1.p_wait_exceeds(0.3) <= r0.p_wait_exceeds(0.3) + 1e-15
    # the fast search equals a linear walk from the smallest stable c
    linear = next((c for c, r in zip(cs, res, strict=True) if r.p_wait <= p), None)
    if linear is not None:
        assert min_servers(a, 1.0, max_p_wait=p, arrival_cv2=cv[0], service_cv2=cv[1]) == linear


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 5e5), st.floats(1e-6, 0.999))
def test_exactly_minimal_at_any_scale(a: float, p: float) -> None:
    """Far from its square-root-staffing guess the search brackets and bisects: at every scale the answer is
    the boundary, checked with Erlang C (independent: the public function, not the search)."""
    c = min_servers(a, 1.0, max_p_wait=p)
    assert erlang_c(c, a) <= p
    assert c - 1 <= a or erlang_c(c - 1, a) > p


def test_fractional_and_integer_loads_and_large_targets() -> None:
    assert min_servers(10.0, 1.0, max_p_wait=1.0) == 11  # smallest stable for an integer load
    assert min_servers(10.5, 1.0, max_p_wait=1.0) == 11
    assert min_servers(0.0, 1.0, max_p_wait=0.0) == 1
    c = min_servers(10_000.0, 1.0, max_p_wait=1e-6)  # far above the load
    assert mmc(10_000.0, 1.0, c).p_wait <= 1e-6 < mmc(10_000.0, 1.0, c - 1).p_wait
    assert min_servers(100.0, 0.1, max_p_wait=0.2) == 14


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({}, "at least one target"), ({"max_p_wait": 0.0}, "cannot be met"), ({"max_mean_wait": 0.0}, "cannot be met"),
     ({"service_level": (1.0, 1.0)}, "cannot be met"), ({"max_wait_quantile": (1.0, 5.0)}, "cannot be met"),
     ({"max_p_wait": 1.5}, "^'max_p_wait' must be"), ({"max_mean_wait": -1.0}, "^'max_mean_wait' must be"),
     ({"service_level": (0.1, 2.0)}, r"^'service_level\.fraction' must be"),
     ({"max_wait_quantile": (0.99, -1.0)}, r"^'max_wait_quantile\.t' must be"),
     ({"max_p_wait": 0.1, "arrival_cv2": -1.0}, "^'arrival_cv2'")],
)
def test_bad_targets(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        min_servers(5.0, 1.0, **kwargs)  # type: ignore[arg-type]


def test_a_target_that_is_not_a_pair_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"^'service_level' must be a pair \(t, fraction\) \(got 0\.9 that is a float\)$"):
        min_servers(5.0, 1.0, service_level=0.9)  # type: ignore[arg-type]


def test_bad_rates_and_cap() -> None:
    with pytest.raises(ValueError, match=r"^'arrival_rate' must be"):
        min_servers(-1.0, 1.0, max_p_wait=0.1)
    with pytest.raises(ValueError, match=r"^'mean_service_time' must be"):
        min_servers(1.0, 0.0, max_p_wait=0.1)
    with pytest.raises(ValueError, match="more than 10000000 servers"):
        min_servers(2e7, 1.0, max_p_wait=0.1)
    # zero-wait targets are attainable without variability (D/D/c)
    assert min_servers(5.5, 1.0, max_p_wait=0.0, arrival_cv2=0.0, service_cv2=0.0) == 6
