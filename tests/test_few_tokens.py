"""A thread behind few tokens competes for the core with the loop and at most c - 1 other threads.

`busy_others_share` is checked against the busy-token distribution of M/M/c summed term by term in mpmath;
the model's use of it against the simulator, where the open-queue view of the core was 20-800% high (or
called a stable worker unstable) with 1-2 tokens.
"""

from __future__ import annotations

import mpmath
import pytest

from sizing import evaluate
from sizing.model import busy_others_share
from sizing.scenario import Deployment, Endpoint, Runtime, Scenario, Traffic
from sizing.simulation import simulate


def _others_mpmath(c: int, a: float) -> float:
    """E[B^2] / E[B] - 1 over a, with P(B = k) from the M/M/c queue-length law (B = min(N, c))."""
    mpmath.mp.dps = 40
    a_ = mpmath.mpf(a)
    terms = [a_**k / mpmath.factorial(k) for k in range(c)]
    tail = a_**c / mpmath.factorial(c) * c / (c - a_)  # sum over n >= c of a^n / (c! c^(n - c))
    z = mpmath.fsum(terms) + tail
    e1 = (mpmath.fsum(k * t for k, t in enumerate(terms)) + c * tail) / z
    e2 = (mpmath.fsum(k * k * t for k, t in enumerate(terms)) + c * c * tail) / z
    return float((e2 / e1 - 1) / a_)


@pytest.mark.parametrize("c", [1, 2, 3, 8, 40])
@pytest.mark.parametrize("util", [0.05, 0.4, 0.8, 0.97])
def test_busy_others_share_matches_the_mmc_law(c: int, util: float) -> None:
    assert busy_others_share(c, util * c) == pytest.approx(_others_mpmath(c, util * c), rel=1e-9, abs=1e-12)


def test_busy_others_share_limits() -> None:
    assert busy_others_share(1, 0.7) == 0.0  # one token: no other thread
    assert busy_others_share(40, 1e-9) == pytest.approx(1.0, abs=1e-6)  # no limit felt: Poisson, a others
    assert busy_others_share(4, 4.0) == 0.75 and busy_others_share(4, 9.0) == 0.75  # saturated: c - 1 of c
    assert busy_others_share(5, 0.0) == 1.0


def _cpu_bound(tokens: int, rho_cpu: float, io_ms: float) -> Scenario:
    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.5, other_io_ms=io_ms)
    return Scenario(
        traffic=Traffic(rps=rho_cpu * 1000.0 / 2.5),
        endpoints=[ep],
        deployment=Deployment(thread_tokens=tokens),
        runtime=Runtime(token_handoff_ms=0.1),
    )


@pytest.mark.parametrize(("tokens", "rho_cpu", "io_ms"), [(1, 0.3, 5.0), (2, 0.5, 5.0), (2, 0.3, 0.0)])
def test_model_follows_the_simulator_behind_one_or_two_tokens(tokens: int, rho_cpu: float, io_ms: float) -> None:
    """Before, the model was +19%, +20% and +1% on these means (and +21%, +24%, -8% on p99)."""
    s = _cpu_bound(tokens, rho_cpu, io_ms)
    model = evaluate(s).overall
    sim = simulate(s, requests=200_000, replications=5, seed=11).overall
    assert model.mean_ms == pytest.approx(sim.mean_ms, rel=0.08)
    assert model.p99_ms == pytest.approx(sim.p99_ms, rel=0.12)


def test_one_token_at_cpu_07_is_stable_in_both() -> None:
    """One token, 2.5 ms of CPU per request at 280 rps: the thread only ever waits for the loop. The open
    view of the core made the token's hold include waits behind thread bursts that cannot exist and called
    the worker unstable; the simulator runs it at a mean of about 8 ms. The model is low by about 13% on
    the mean here (the loop's priority turns are longer than it assumes), inside 20%."""
    s = _cpu_bound(1, 0.7, 0.0)
    ev = evaluate(s)
    assert ev.stable
    sim = simulate(s, requests=200_000, replications=5, seed=11).overall
    assert ev.overall.mean_ms == pytest.approx(sim.mean_ms, rel=0.2)


def test_later_passes_are_jobs_of_their_own_on_the_core() -> None:
    from sizing.model import cpu_segments
    from sizing.scenario import request_phases

    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.4, response_model=True, sync_dependencies=1)
    # loop + first pass together, then the body's pass, then the response pass (0.6 ms each).
    assert cpu_segments(request_phases(ep)) == pytest.approx([1.2, 0.6, 0.6])
    assert cpu_segments(request_phases(ep), split_at_first_pass=True) == pytest.approx([0.6] * 4)


@pytest.mark.parametrize("tokens", [4, 40])
def test_pure_cpu_response_model_follows_the_simulator(tokens: int) -> None:
    """A def endpoint with response_model and no I/O at 0.7 of the core: the body's and the response's
    passes each queue for the core, a pass apart. With them joined into one job the model's mean was +33%
    (40 tokens) and +81% (4 tokens); their waits, taken as independent, made the p99 -30%. Now -10% / -13%
    (40 tokens) and -5% / -11% (4 tokens) against 400k simulated requests: asserted within 12% and 15%."""
    ep = Endpoint(name="a", share=1, handler="sync", cpu_ms=2.5, response_model=True)
    s = Scenario(
        traffic=Traffic(rps=280.0),
        endpoints=[ep],
        deployment=Deployment(thread_tokens=tokens),
        runtime=Runtime(token_handoff_ms=0.1),
    )
    model = evaluate(s).overall
    sim = simulate(s, requests=400_000, replications=5, seed=13).overall
    assert model.mean_ms == pytest.approx(sim.mean_ms, rel=0.12)
    assert model.p99_ms == pytest.approx(sim.p99_ms, rel=0.15)
