"""The worker engine against closed forms computed here (exponential steps through the engine's own API).

Exact references:
* M/M/c: a token pass holding one exponential step is an M/M/c queue (Erlang C).
* k passes through one FIFO server: each request visits the same exponential single server k times in a
  row, rejoining the back of the queue each time. Relabel a request on its j-th visit as class j: the
  station is FIFO with one service rate for every class, so it is a BCMP type-1 (Kelly) station and the
  open network with this deterministic class-switching route has product form. The number at the station
  is then that of an M/M/1 with arrival rate k*lambda, rho = k*lambda*S, and by the arrival theorem of open
  product-form networks every visit (re-entries included) sees that distribution: P(wait) = rho, mean
  wait per visit rho/(mu - k lambda), mean end to end k/(mu - k lambda). (It needs the same exponential
  law on every visit; with constant service the result does not hold.)
* Nested token + DB: with tokens <= connections only token holders take connections, so nobody ever
  waits for one, and the token stage alone is M/M/c. With one connection and tokens >= 1 both queues are
  FIFO and the connection is the only server: the pair is one M/M/1 queue split in two waiting lines, so
  the end-to-end time is exponential with rate mu - lambda.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from sizing.scenario import Phase, Step
from sizing.simulation import Sampler, Summary, compile_worker, run_program, service_sampler


def erlang_c(c: int, a: float) -> float:
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    top = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    m = max([*logs, top])
    s = math.fsum(math.exp(x - m) for x in logs)
    return math.exp(top - m) / (s + math.exp(top - m))


def exponential_steps(_: str, step: Step) -> Sampler:
    return service_sampler(step.mean_ms, 1.0, "exponential") if step.cv2 == 1.0 else service_sampler(
        step.mean_ms, step.cv2
    )


def run(
    phases: Sequence[Phase], capacity: tuple[int, int, int, int, int], lam_per_ms: float, *, n: int = 60_000,
    reps: int = 8, seed: int = 0,
) -> Summary:
    spec = compile_worker(lam_per_ms, 1.0, [("a", 1.0, phases)], capacity, exponential_steps)
    return run_program(spec, requests=n, warmup=n // 10, replications=reps, seed=seed)


def stage(s: Summary, name: str) -> tuple[float, float, float]:
    row = next(x for x in s.stages if x.name == name)
    assert row.wait_mean_ms is not None and row.wait_p99_ms is not None
    return row.p_wait, row.wait_mean_ms, row.wait_p99_ms


def near(est: float | None, exact: float, hw: float | None, rel: float = 0.03) -> None:
    assert est is not None
    slack = 3.0 * (hw or 0.0) + rel * abs(exact)
    assert abs(est - exact) <= slack, f"simulated {est} ± {hw}, exact {exact}"


def test_token_pass_is_mmc() -> None:
    c, s_ms, lam = 4, 100.0, 0.03  # rho = 0.75
    r = run([Phase("token", (Step("io", s_ms, 1.0),))], (1, 1, c, 1, 1), lam)
    pw = erlang_c(c, lam * s_ms)
    theta = c / s_ms - lam
    p_wait, mean, p99 = stage(r, "thread_tokens")
    near(p_wait, pw, r.ci["stages.thread_tokens.p_wait"])
    near(mean, pw / theta, r.ci["stages.thread_tokens.wait_mean_ms"])
    near(p99, math.log(pw / 0.01) / theta, r.ci["stages.thread_tokens.wait_p99_ms"])
    near(r.latency[-1].mean_ms, pw / theta + s_ms, r.ci["latency.overall.mean_ms"])
    assert r.stable


@pytest.mark.parametrize("k", [2, 3])
def test_k_passes_through_one_server_is_mm1_at_k_lambda(k: int) -> None:
    s_ms = 10.0
    rho = 0.6
    lam = rho / (k * s_ms)
    passes = [Phase("token", (Step("io", s_ms, 1.0),)) for _ in range(k)]
    r = run(passes, (1, 1, 1, 1, 1), lam, n=50_000)
    gap = 1.0 / s_ms - k * lam
    p_wait, mean, _ = stage(r, "thread_tokens")
    near(p_wait, rho, r.ci["stages.thread_tokens.p_wait"])
    near(mean, rho / gap, r.ci["stages.thread_tokens.wait_mean_ms"])
    near(r.latency[-1].mean_ms, k / gap, r.ci["latency.overall.mean_ms"])
    tokens = next(x for x in r.stages if x.name == "thread_tokens")
    assert tokens.arrival_rps == pytest.approx(k * lam * 1000.0)


def test_tokens_within_the_pool_never_wait_for_a_connection() -> None:
    c, s_ms, lam = 3, 50.0, 0.045  # token rho = 0.75, DB pool of 5
    r = run([Phase("token", (Step("db", s_ms, 1.0),))], (1, 1, c, 5, 1), lam)
    db = next(x for x in r.stages if x.name == "db_pool")
    assert db.p_wait == 0.0 and db.wait_mean_ms == 0.0
    pw = erlang_c(c, lam * s_ms)
    _, mean, _ = stage(r, "thread_tokens")
    near(mean, pw / (c / s_ms - lam), r.ci["stages.thread_tokens.wait_mean_ms"])


def test_one_connection_behind_many_tokens_is_one_mm1() -> None:
    """Also nested holding: a token is held through the DB wait, so its hold is that wait plus the DB hold."""
    s_ms, lam = 10.0, 0.07  # rho = 0.7
    r = run([Phase("token", (Step("db", s_ms, 1.0),))], (1, 1, 4, 1, 1), lam)
    gap = 1.0 / s_ms - lam
    overall = r.latency[-1]
    near(overall.mean_ms, 1.0 / gap, r.ci["latency.overall.mean_ms"])
    near(overall.p99_ms, math.log(100.0) / gap, r.ci["latency.overall.p99_ms"])
    _, token_wait, _ = stage(r, "thread_tokens")
    _, db_wait, _ = stage(r, "db_pool")
    near(token_wait + db_wait, 0.7 / gap, None, rel=0.05)
    assert token_wait > 0 and db_wait > 0  # both lines really hold part of the queue
    tokens = next(x for x in r.stages if x.name == "thread_tokens")
    assert tokens.hold_ms == pytest.approx(db_wait + s_ms, rel=0.03)
