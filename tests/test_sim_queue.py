"""simulate_queue against exact results computed here: Erlang C (M/M/c), Crommelin (M/D/c), Lindley (M/M/1).

Each check allows the simulator's own 95% half-width (times a margin: several quantities are checked per
test) plus a small relative slack, and requires the half-width itself to be tight, so a pass means
"exact within a few percent", not "noisy enough to agree".
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from sizing.simulation import QueueSimulation, simulate_queue


def erlang_c(c: int, a: float) -> float:
    """P(wait) in M/M/c with offered load a = lambda/mu < c (log-space terms: no overflow)."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    top = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    m = max([*logs, top])
    s = math.fsum(math.exp(x - m) for x in logs)
    t = math.exp(top - m)
    return t / (s + t)


def mmc_wait(lam: float, mean_s: float, c: int) -> tuple[float, float, float]:
    """M/M/c: P(wait), mean wait, and the 0.99 quantile of the wait (same time unit as mean_s)."""
    a = lam * mean_s
    pw = erlang_c(c, a)
    theta = c / mean_s - lam  # P(W > t) = pw * exp(-theta t)
    p99 = math.log(pw / 0.01) / theta if pw > 0.01 else 0.0
    return pw, pw / theta, p99


class MDc:
    """Exact FIFO M/D/c waiting time (Crommelin 1932), service time D.

    N(t + D) = max(N(t) - c, 0) + A(t, t + D] is exact for constant service, so the number in system at
    any fixed time has the stationary law p of that chain (Q = its CDF). An arrival at tau waits at most
    kD + u (0 <= u < D) iff max(N(tau + u - D) - c, 0) + A(tau + u - D, tau) <= (k + 1)c - 1, giving
    P(W <= kD + u) = sum_{j=0}^{(k+1)c-1} Q[(k+2)c - 1 - j] * Poisson(j; lam (D - u)).
    """

    def __init__(self, lam: float, d: float, c: int, n_max: int = 600) -> None:
        self.lam, self.d, self.c = lam, d, c
        a = stats.poisson.pmf(np.arange(n_max), lam * d)
        # Transition matrix of the chain, truncated at n_max states (the tail mass is far below 1e-12).
        p = np.zeros((n_max, n_max))
        for i in range(n_max):
            base = max(i - c, 0)
            p[i, base:] = a[: n_max - base]
        p /= p.sum(axis=1, keepdims=True)
        m = p.T - np.eye(n_max)
        m[-1] = 1.0
        rhs = np.zeros(n_max)
        rhs[-1] = 1.0
        self.q = np.cumsum(np.linalg.solve(m, rhs))

    def cdf(self, x: float) -> float:
        k, u = divmod(x, self.d)
        top = (int(k) + 1) * self.c - 1
        j = np.arange(top + 1)
        idx = np.minimum((int(k) + 2) * self.c - 1 - j, self.q.size - 1)
        return float(np.sum(self.q[idx] * stats.poisson.pmf(j, self.lam * (self.d - u))))

    def mean(self) -> float:
        total, k = 0.0, 0
        while True:
            lo, hi = k * self.d, (k + 1) * self.d
            piece = float(integrate.quad(lambda x: 1.0 - self.cdf(x), lo, hi, limit=200)[0])
            total += piece
            k += 1
            if piece < 1e-12 * max(total, 1e-300):
                return total

    def quantile(self, q: float) -> float:
        if self.cdf(0.0) >= q:
            return 0.0
        hi = self.d
        while self.cdf(hi) < q:
            hi *= 2
        return float(optimize.brentq(lambda x: self.cdf(x) - q, 0.0, hi, xtol=1e-9 * hi))


def close(est: float | None, hw: float | None, exact: float, rel: float, max_hw: float) -> None:
    assert est is not None and hw is not None
    assert hw <= max_hw * max(exact, 1e-9), f"half-width {hw} too wide for a check against {exact}"
    assert abs(est - exact) <= 3.0 * hw + rel * exact, f"simulated {est} ± {hw}, exact {exact}"


def test_crommelin_reduces_to_pollaczek_khinchine_for_one_server() -> None:
    lam, d = 0.8, 1.0
    md1 = MDc(lam, d, 1)
    assert md1.mean() == pytest.approx(lam * d * d / (2 * (1 - lam * d)), rel=1e-6)
    assert md1.cdf(0.0) == pytest.approx(1 - lam * d, rel=1e-9)


@pytest.mark.parametrize(
    ("c", "rho", "requests"), [(1, 0.7, 1_000_000), (5, 0.8, 4_000_000), (40, 0.9, 4_000_000)]
)
def test_mmc_matches_erlang_c(c: int, rho: float, requests: int) -> None:
    service_ms = 100.0
    lam = rho * c / service_ms * 1000.0
    pw, mean_s, p99 = mmc_wait(lam, service_ms / 1000.0, c)
    r = simulate_queue(lam, service_ms, c, requests=requests, replications=100, seed=1, quantiles=(0.99,))
    assert r.stable
    close(r.p_wait, r.p_wait_ci, pw, 0.01, 0.05)
    close(r.wait_mean_ms, r.wait_mean_ci_ms, mean_s * 1000.0, 0.02, 0.08)
    close(r.wait_quantile(0.99), r.wait_quantiles_ci_ms["0.99"], p99 * 1000.0, 0.02, 0.08)


def test_mdc_matches_crommelin() -> None:
    c, d_ms, rho = 5, 100.0, 0.8
    lam_ms = rho * c / d_ms
    exact = MDc(lam_ms, d_ms, c)
    r = simulate_queue(lam_ms * 1000.0, d_ms, c, service_cv2=0.0, requests=1_000_000, replications=40, seed=2,
                       quantiles=(0.9, 0.99))
    assert r.service_family == "constant"
    close(r.p_wait, r.p_wait_ci, 1.0 - exact.cdf(0.0), 0.01, 0.05)
    close(r.wait_mean_ms, r.wait_mean_ci_ms, exact.mean(), 0.02, 0.08)
    for q in (0.9, 0.99):
        close(r.wait_quantile(q), r.wait_quantiles_ci_ms[f"{q:g}"], exact.quantile(q), 0.02, 0.08)


def test_mdc_is_far_below_mmc_at_the_tail() -> None:
    """Why the simulator matters: constant service nearly halves the M/M/c wait (the model must use the cv2).

    Exact here (Crommelin and Erlang C): 0.536 ms against 0.870 ms, a ratio of 0.62; each estimate is
    within about 8% (95%), so 0.75 leaves room for the noise but not for equal waits."""
    args = (400.0, 100.0, 50)
    det = simulate_queue(*args, service_cv2=0.0, requests=400_000, replications=20, seed=3)
    exp = simulate_queue(*args, service_cv2=1.0, requests=400_000, replications=20, seed=3)
    assert det.wait_mean_ms is not None and exp.wait_mean_ms is not None
    assert det.wait_mean_ms < 0.75 * exp.wait_mean_ms


def test_overload_is_reported_not_simulated() -> None:
    r = simulate_queue(1000.0, 100.0, 10, requests=10_000, replications=10)
    assert not r.stable and r.utilization == pytest.approx(10.0)
    assert r.wait_mean_ms is None and r.p_wait is None and r.wait_quantile(0.99) is None
    json.loads(r.model_dump_json(), parse_constant=lambda s: pytest.fail(f"non-strict JSON constant {s}"))


def test_seeded_runs_repeat_exactly() -> None:
    a, b = (simulate_queue(300.0, 10.0, 4, requests=20_000, replications=4, seed=9) for _ in range(2))
    assert a.model_dump(exclude={"wall_seconds"}) == b.model_dump(exclude={"wall_seconds"})
    c = simulate_queue(300.0, 10.0, 4, requests=20_000, replications=4, seed=10)
    assert c.wait_mean_ms != a.wait_mean_ms


def test_streaming_mode_gives_the_same_mean() -> None:
    kw = {"requests": 20_000, "replications": 4, "seed": 5}
    full = simulate_queue(300.0, 10.0, 4, **kw)  # type: ignore[arg-type]
    lean = simulate_queue(300.0, 10.0, 4, quantiles=(), **kw)  # type: ignore[arg-type]
    assert lean.wait_quantiles_ms == {}
    assert lean.wait_mean_ms == pytest.approx(full.wait_mean_ms, rel=1e-5)


def test_bursty_arrivals_wait_longer() -> None:
    kw = {"requests": 200_000, "replications": 20, "seed": 4}
    smooth = simulate_queue(300.0, 10.0, 4, arrival_cv2=0.0, **kw)  # type: ignore[arg-type]
    poisson = simulate_queue(300.0, 10.0, 4, arrival_cv2=1.0, **kw)  # type: ignore[arg-type]
    bursty = simulate_queue(300.0, 10.0, 4, arrival_cv2=4.0, **kw)  # type: ignore[arg-type]
    assert smooth.wait_mean_ms is not None and poisson.wait_mean_ms is not None
    assert bursty.wait_mean_ms is not None
    assert smooth.wait_mean_ms < poisson.wait_mean_ms < bursty.wait_mean_ms


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"arrival_rps": 0.0}, "arrival_rps"),
        ({"service_ms": float("nan")}, "service_ms"),
        ({"servers": 0}, "servers"),
        ({"requests": 50}, "requests"),
        ({"replications": 0}, "replications"),
        ({"warmup_fraction": 0.95}, "warmup_fraction"),
        ({"arrival_cv2": -1.0}, "'arrival_cv2'"),
        ({"quantiles": (1.0,)}, "quantiles"),
        ({"seed": -1}, "seed"),
        ({"service_family": "weibull"}, "service_family"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {"arrival_rps": 10.0, "service_ms": 10.0, "servers": 1, "requests": 10_000,
                               "replications": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        simulate_queue(**args)  # type: ignore[arg-type]


def test_result_is_a_frozen_model() -> None:
    r = simulate_queue(10.0, 10.0, 1, requests=1_000, replications=2)
    assert isinstance(r, QueueSimulation)
    with pytest.raises(ValueError, match="frozen"):
        r.servers = 3  # type: ignore[misc]
    with pytest.raises(KeyError):
        r.wait_quantile(0.42)


def test_controlled_mean_recovers_a_known_mean_with_a_narrower_interval() -> None:
    """Synthetic replications: y = 5 + 3 (x - 2) + small noise with E[x] = 2 known, so E[y] = 5."""
    from sizing.simulation import controlled_mean, mean_and_half_width

    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        x = 2.0 + rng.normal(0.0, 1.0, 30)
        y = 5.0 + 3.0 * (x - 2.0) + rng.normal(0.0, 0.1, 30)
        est, hw = controlled_mean(y, x, 2.0)
        _, plain_hw = mean_and_half_width(y)
        assert hw is not None and plain_hw is not None and hw < plain_hw / 10.0
        hits += abs(est - 5.0) <= hw
    # A 95% interval: 200 draws cover 5.0 between 180 and 200 times except with probability ~1e-4.
    assert hits >= 180


def test_controlled_mean_falls_back_to_the_plain_mean() -> None:
    from sizing.simulation import controlled_mean

    y = np.array([1.0, 2.0, 3.0])
    assert controlled_mean(y, np.array([0.5, 0.7, 0.9]), 0.6)[0] == pytest.approx(2.0)  # fewer than 4
    assert controlled_mean(np.array([1.0, 2.0, 3.0, 4.0]), np.zeros(4), 0.0)[0] == pytest.approx(2.5)


def test_control_variate_narrows_the_mean_wait_near_saturation() -> None:
    """M/M/40 at utilization 0.95 (the benchmark model) on 10^6 customers: the plain interval is about
    +-10% (waits correlated over ~700 customers); the controlled one must be several times narrower and
    still cover Erlang C, computed here independently."""
    _, mean_s, _ = mmc_wait(380.0, 0.1, 40)
    exact = mean_s * 1000.0
    r = simulate_queue(380.0, 100.0, 40, requests=1_000_000, replications=50, seed=11, quantiles=())
    assert r.variance_reduction == "control_variate"
    assert r.wait_mean_ci_ms is not None and r.wait_mean_plain_ci_ms is not None
    assert r.wait_mean_ci_ms < r.wait_mean_plain_ci_ms / 4.0
    close(r.wait_mean_ms, r.wait_mean_ci_ms, exact, 0.0, 0.03)
    close(r.wait_mean_plain_ms, r.wait_mean_plain_ci_ms, exact, 0.0, 0.2)
    off = simulate_queue(380.0, 100.0, 40, requests=1_000_000, replications=50, seed=11, quantiles=(),
                         control_variate=False)
    assert off.variance_reduction == "none" and off.wait_mean_ms == pytest.approx(r.wait_mean_plain_ms)


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"servers": 1}, "one server: the control is the queue itself"),
        ({"servers": 4, "arrival_cv2": 2.0}, "non-Poisson arrivals: no exact mean for the control"),
        ({"servers": 4, "replications": 3}, "too few replications to fit the coefficient"),
    ],
)
def test_control_variate_only_where_it_is_exact(kwargs: dict[str, object], why: str) -> None:
    base: dict[str, object] = {"arrival_rps": 50.0, "service_ms": 10.0, "requests": 12_000, "replications": 6}
    base.update(kwargs)
    r = simulate_queue(quantiles=(), **base)  # type: ignore[arg-type]
    assert r.variance_reduction == "none", why
    assert r.wait_mean_ms == r.wait_mean_plain_ms
