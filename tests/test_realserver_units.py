"""Unit tests of the real-server validation: schedule, plan, app passes, report formatting (no server)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sizing.cli import main
from sizing.model import evaluate
from sizing.scenario import Deployment, Endpoint, Scenario
from sizing.validation import (
    EXIT_ERROR,
    EXIT_MISS,
    EXIT_OK,
    MAX_LAG_P99_MS,
    MAX_OTHER_CPU,
    MAX_STEAL,
    Calibration,
    ClassLatency,
    Measured,
    PointReport,
    PointRun,
    Predicted,
    ValidationReport,
    Verdict,
    band_range,
    burn_plan,
    disturbance_reason,
    disturbance_score,
    disturbed,
    latency_ci,
    nominal_capacities,
    parse_points,
    repredict,
    resolve_points,
    verdict,
)
from sizing.validation.loadgen import LoadResult, LoadSpec, arrival_offsets, class_choices


def _scenario(**endpoint: Any) -> Scenario:
    ep = {
        "name": "a",
        "share": 1.0,
        "handler": "sync",
        "cpu_ms": 1.0,
        "other_io_ms": 50.0,
        "other_io_cv2": 0.0,
    }
    ep.update(endpoint)
    return Scenario.model_validate(
        {"traffic": {"rps": 10}, "endpoints": [ep], "deployment": {"thread_tokens": 4}}
    )


# --- the schedule -----------------------------------------------------------------------------------


def test_poisson_schedule_is_seeded_and_exponential() -> None:
    a = arrival_offsets(200.0, 100.0, 10**6, seed=7)
    b = arrival_offsets(200.0, 100.0, 10**6, seed=7)
    c = arrival_offsets(200.0, 100.0, 10**6, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[:100], c[:100])
    gaps = np.diff(a)
    assert len(a) == pytest.approx(20_000, rel=0.03)
    assert gaps.mean() == pytest.approx(1 / 200, rel=0.03)
    assert gaps.var() / gaps.mean() ** 2 == pytest.approx(1.0, rel=0.06)
    # Counts in 0.1 s windows of a Poisson process: variance = mean (1000 windows: +-5% one sigma).
    counts = np.bincount((a * 10).astype(int))
    assert counts.var() / counts.mean() == pytest.approx(1.0, rel=0.15)


def test_schedule_bounds_and_other_variabilities() -> None:
    even = arrival_offsets(100.0, 2.0, 1000, seed=1, cv2=0.0)
    assert np.allclose(np.diff(even), 0.01)
    assert even[-1] < 2.0
    bursty = np.diff(arrival_offsets(100.0, 500.0, 10**6, seed=1, cv2=4.0))
    assert bursty.var() / bursty.mean() ** 2 == pytest.approx(4.0, rel=0.15)
    capped = arrival_offsets(1000.0, 10.0, 123, seed=1)
    assert len(capped) == 123
    assert arrival_offsets(1000.0, 0.5, 10**6, seed=1).max() < 0.5


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rate": 0.0}, "rate"),
        ({"seconds": -1.0}, "seconds"),
        ({"max_requests": 0}, "max_requests"),
        ({"cv2": 200.0}, "cv2"),
    ],
)
def test_schedule_rejects_bad_input(kwargs: dict[str, float], needle: str) -> None:
    args: dict[str, Any] = {"rate": 10.0, "seconds": 1.0, "max_requests": 10, "seed": 1, **kwargs}
    with pytest.raises(ValueError, match=needle):
        arrival_offsets(**args)


def test_class_choices_follow_shares() -> None:
    cls = class_choices((0.25, 0.75), 40_000, seed=3)
    assert np.array_equal(cls, class_choices((0.25, 0.75), 40_000, seed=3))
    assert (cls == 1).mean() == pytest.approx(0.75, abs=0.01)
    with pytest.raises(ValueError, match="shares"):
        class_choices((0.5, 0.2), 10, seed=1)


def test_load_result_round_trip_and_merge() -> None:
    def part(offset: float) -> LoadResult:
        sched = np.array([0.1, 0.3]) + offset
        return LoadResult(
            t0=5.0,
            sched=sched,
            sent=sched + 0.001,
            done=np.array([sched[0] + 0.05, math.nan]),
            status=np.array([200, 0]),
            cls=np.array([0, 1]),
            cpu_s=0.1,
            send_wall_s=1.0,
            rq_wait_s=0.01,
            connections=3,
            stopped_by="count",
        )

    a = LoadResult.from_json(part(0.0).to_json())
    assert math.isnan(a.done[1]) and a.status.tolist() == [200, 0]
    merged = LoadResult.merge([a, part(0.1)])
    assert np.all(np.diff(merged.sched) >= 0) and merged.connections == 6
    spec = LoadSpec(port=1, paths=("/e/0",), shares=(1.0,), rate=5.0, seconds=1.0, max_requests=5, seed=1)
    assert LoadSpec.from_json(spec.to_json()) == spec


# --- the plan ---------------------------------------------------------------------------------------


def test_points_parse_and_resolve() -> None:
    assert parse_points("0.5, 0.8,640rps") == [(0.5, False), (0.8, False), (640.0, True)]
    for bad in ("", "x", "0", "9", "-1rps", "nan"):
        with pytest.raises(ValueError, match="--points"):
            parse_points(bad)
    ref, pts = resolve_points(_scenario(), [(0.5, False), (100.0, True)], "thread_tokens")
    # 4 tokens / (50 ms + half the CPU + the default 0.4 ms hand-off)
    assert ref == pytest.approx(4 / 0.0509, rel=1e-6)
    assert pts[0].rps == pytest.approx(0.5 * ref) and pts[1].rps == 100.0
    with pytest.raises(ValueError, match="--stage"):
        resolve_points(_scenario(), [(0.5, False)], "db_pool_sync")


def test_capacities_from_phases() -> None:
    caps = nominal_capacities(_scenario(cpu_ms=2.0))
    assert caps["cpu"] == pytest.approx(500.0)
    assert caps["event_loop"] == pytest.approx(1000.0)  # the loop turn holds half the CPU
    caps = nominal_capacities(
        _scenario(handler="async", blocking_in_async_ms=4.0, cpu_ms=2.0, db_hold_ms=10.0)
    )
    assert "thread_tokens" not in caps
    assert caps["event_loop"] == pytest.approx(1000 / 6.0)
    assert caps["db_pool_async"] == pytest.approx(15 / 0.010)


def test_burn_plan_takes_framework_cpu_off_the_loop_first() -> None:
    ep = Endpoint(name="a", share=1.0, handler="sync", cpu_ms=3.0, sync_dependencies=1, response_model=True)
    plan = burn_plan(ep, 0.0)
    assert plan == pytest.approx([0.75] * 4)
    plan = burn_plan(ep, 1.5)
    assert plan[0] == 0.0 and sum(plan) == pytest.approx(1.5) and plan[1:] == pytest.approx([0.5] * 3)
    assert burn_plan(ep, 5.0) == [0.0] * 4


# --- the emulating app: token passes as FastAPI really runs them --------------------------------------


def test_app_takes_exactly_the_token_passes_of_the_lifecycle(monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio.to_thread

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from sizing.validation.server import create_app

    calls = {"n": 0}
    original = anyio.to_thread.run_sync

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    endpoints = [
        {"handler": "sync", "other_io_ms": 1.0},
        {"handler": "sync", "other_io_ms": 1.0, "response_model": True},
        {
            "handler": "sync",
            "sync_dependencies": 2,
            "db_hold_ms": 1.0,
            "upstream_calls": 2,
            "upstream_latency_ms": 1.0,
        },
        {"handler": "async", "other_io_ms": 1.0, "blocking_in_async_ms": 1.0, "db_hold_ms": 1.0},
        {"handler": "async", "sync_dependencies": 1, "response_model": True},
        {"handler": "sync", "cpu_ms": 0.01, "response_model": True, "sync_dependencies": 1},
    ]
    eps = [{"name": f"c{i}", "share": 1 / len(endpoints), **e} for i, e in enumerate(endpoints)]
    scenario = Scenario.model_validate({"traffic": {"rps": 10}, "endpoints": eps})
    app = create_app({"scenario": scenario.model_dump(mode="json"), "seed": 1})
    with TestClient(app) as client:
        for i, ep in enumerate(scenario.endpoints):
            calls["n"] = 0
            assert client.get(f"/e/{i}").status_code == 200
            assert calls["n"] == ep.token_passes, ep
        counts = client.get("/_stats").json()["counts"]
    assert counts["pass.1"] == 2 and counts["pass.2"] == 3 and "pass.3" not in counts
    assert counts["db_sync.n"] == 1 and counts["http_sync.n"] == 2 and counts["db_async.n"] == 1


def test_burn_spends_thread_cpu() -> None:
    from sizing.validation.server import burn

    # Never short of the target, and over it by a few microseconds of loop: the median of seven burns, as one
    # burn on a contended host once read 6.46 ms (the hypervisor stole 0.25-0.32 cores during that CI run).
    used = sorted(burn(5.0) for _ in range(7))
    assert used[0] >= 5.0
    assert used[3] < 5.5, used


# --- the report -------------------------------------------------------------------------------------


def _measured(**kw: Any) -> Measured:
    base: dict[str, Any] = dict(
        offered_rps=100.0,
        sent_rps=100.0,
        achieved_rps=99.0,
        window_s=10.0,
        count=1000,
        errors=0,
        mean_ms=50.0,
        p50_ms=48.0,
        p95_ms=70.0,
        p99_ms=100.0,
        per_class={"a": ClassLatency(count=1000, mean_ms=50.0, p50_ms=48.0, p95_ms=70.0, p99_ms=100.0)},
        send_lag_mean_ms=0.5,
        send_lag_p99_ms=1.0,
        generator_cpu=0.05,
        generator_bound=False,
        generator_reason="",
        server_cpu=0.2,
        tokens_borrowed_mean=2.0,
        token_utilization=0.5,
        token_hold_ms=51.0,
        tasks_waiting_mean=0.1,
        tasks_waiting_max=3,
        pools={},
        samples=90,
        other_cpu=0.01,
        steal=0.0,
        attempts=1,
    )
    base.update(kw)
    return Measured(**base)


def _predicted(mean: float | None, p99: float | None, max_rps: float | None = 200.0) -> Predicted:
    return Predicted(
        source="model",
        mean_ms=mean,
        p50_ms=mean,
        p95_ms=p99,
        p99_ms=p99,
        per_class={},
        max_rps=max_rps,
        stable=mean is not None,
        token_utilization=0.5,
        cpu_utilization=0.2,
        bottleneck="thread_tokens",
    )


def test_verdicts() -> None:
    m = _measured()
    assert verdict(m, None, False) == Verdict(status="not_compared", detail="no prediction")
    assert verdict(m, _predicted(54.0, 115.0), False) == Verdict(status="ok")
    assert verdict(m, _predicted(56.0, 115.0), False) == Verdict(status="miss", detail="mean 56.0 vs 50.0 (+12%)")
    assert "p99 130.0 vs 100.0 (+30%)" in verdict(m, _predicted(50.0, 130.0), False).detail
    assert verdict(m, _predicted(None, None, 105.0), True).status == "ok"
    missed = verdict(m, _predicted(None, None, 120.0), True)
    assert missed.status == "miss" and missed.detail.startswith("max_rps 120 vs 99")
    assert verdict(
        _measured(generator_bound=True, generator_reason="lag"), _predicted(50, 100), False
    ) == Verdict(status="not_compared", detail="generator-bound (lag)")
    failed = _predicted(50, 100).model_copy(update={"error": "ValueError: no pool"})
    assert verdict(m, failed, False) == Verdict(status="error", detail="ValueError: no pool")


def test_a_point_the_host_disturbed_is_not_compared() -> None:
    """Hypervisor steal or other processes' CPU past the limits: the point's timing is the host's, so no
    verdict, whether the prediction would have matched or not (throughput past saturation included)."""
    assert disturbance_reason(_measured()) is None
    assert disturbance_reason(_measured(steal=MAX_STEAL, other_cpu=MAX_OTHER_CPU)) is None
    stolen = _measured(steal=0.21)
    assert disturbance_reason(stolen) == f"hypervisor steal 0.21 cores > {MAX_STEAL}"
    for pred, over in (
        (_predicted(50.0, 100.0), False),
        (_predicted(90.0, 300.0), False),
        (_predicted(None, None, 99.0), True),
    ):
        assert verdict(stolen, pred, over) == Verdict(
            status="not_compared", detail=f"machine disturbed (hypervisor steal 0.21 cores > {MAX_STEAL})"
        )
    both = disturbance_reason(_measured(steal=0.3, other_cpu=0.5))
    assert both is not None and "other processes 0.50 cores" in both and "steal 0.30" in both


def _run(lag_ms: float, *, other_cpu: float = 0.0, steal: float = 0.0) -> PointRun:
    sched = np.linspace(0.0, 1.0, 200)
    load = LoadResult(
        t0=0.0,
        sched=sched,
        sent=sched + lag_ms / 1000.0,
        done=sched + 0.01,
        status=np.full(200, 200),
        cls=np.zeros(200, dtype=int),
        cpu_s=0.0,
        send_wall_s=1.0,
        rq_wait_s=0.0,
        connections=1,
        stopped_by="count",
    )
    return PointRun(load=load, samples=[], other_cpu=other_cpu, rq_wait_s=0.0, steal=steal)


def test_a_run_is_repeated_when_any_disturbance_passes_its_limit() -> None:
    assert not disturbed(_run(1.0, other_cpu=0.1, steal=0.01))
    assert disturbance_score(_run(MAX_LAG_P99_MS / 2)) == pytest.approx(0.5)
    assert disturbed(_run(1.0, steal=2 * MAX_STEAL)) and disturbance_score(
        _run(1.0, steal=2 * MAX_STEAL)
    ) == pytest.approx(2.0)
    assert disturbed(_run(1.0, other_cpu=1.5 * MAX_OTHER_CPU))
    assert disturbed(_run(2 * MAX_LAG_P99_MS))
    # The least disturbed of several runs is the one kept: the ratios order them.
    runs = [_run(1.0, steal=0.3), _run(8.0), _run(1.0, other_cpu=0.3)]
    assert min(runs, key=disturbance_score) is runs[2]


def _report() -> ValidationReport:
    cal = Calibration(
        overhead_ms=0.5,
        trivial_latency_ms=1.2,
        trivial_server_cpu_ms=0.7,
        framework_cpu_ms={"a": 1.9},
        cpu_ms_emulated={"a": 2.0},
        burn_plan_ms={"a": [0.0, 0.1]},
        handoff_ms_saturation=2.1,
        handoff_ms_gap=1.5,
        handoff_ms_model=0.4,
        sleep_overshoot_ms={"io": 0.6},
        burn_accuracy=1.01,
        generator_ceiling_rps=1000.0,
        generator_ceiling_cpu=0.1,
    )
    points = [
        PointReport(
            label="0.5x",
            fraction=0.5,
            rps=40.0,
            nominal_utilization={"thread_tokens": 0.5},
            measured=_measured(),
            model=_predicted(51.0, 110.0),
            simulator=None,
            verdicts={"model": Verdict(status="ok"), "simulator": Verdict(status="not_compared", detail="no prediction")},
        ),
        PointReport(
            label="1.2x",
            fraction=1.2,
            rps=96.0,
            nominal_utilization={"thread_tokens": 1.2},
            measured=_measured(mean_ms=2000.0),
            model=_predicted(None, None, 150.0),
            simulator=None,
            verdicts={
                "model": Verdict(status="miss", detail="max_rps 150 vs 99 (+52%)"),
                "simulator": Verdict(status="not_compared", detail="no prediction"),
            },
        ),
    ]
    return ValidationReport(
        name="demo",
        created="2026-11-01T00:00:00+00:00",
        machine={"cores": 2},
        scenario=_scenario().model_dump(mode="json"),
        reference_stage="thread_tokens",
        reference_rps=78.6,
        seconds=20.0,
        calibration=cal,
        points=points,
    )


def test_report_table_markdown_and_json() -> None:
    report = _report()
    table = report.to_table()
    lines = table.splitlines()
    assert lines[0].startswith("demo: 1 worker(s), 4 tokens")
    assert "client overhead 0.50 ms" in lines[1] and "hand-off 2.10 ms" in lines[1]
    header = next(ln for ln in lines if ln.startswith("point"))
    assert "model mean" in header and "sim mean" in header
    row = next(ln for ln in lines if ln.startswith("0.5x"))
    assert "+2%" in row and "+10%" in row and "model: ok" in row
    md = report.to_markdown()
    rows = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(rows) == 4 and all(r.count("|") == rows[0].count("|") for r in rows)
    back = ValidationReport.model_validate_json(report.model_dump_json())
    assert back == report and back.format == "sizing-validate/2"
    assert report.misses() == ["demo 1.2x (96 rps) model: miss: max_rps 150 vs 99 (+52%)"]
    assert report.errors() == [] and report.exit_code() == EXIT_MISS


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """A stationary AR(1) series around 0 (correlated like consecutive requests' waits)."""
    e = rng.normal(0.0, sigma, n)
    x = np.empty(n)
    x[0] = e[0] / math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def _coverage(series: list[np.ndarray], true_mean: float, true_p99: float) -> tuple[float, float]:
    hit_mean = hit_p99 = 0
    for lat in series:
        hw, (lo, hi) = latency_ci(lat)  # type: ignore[misc]
        assert hw is not None and lo <= float(np.percentile(lat, 99)) <= hi
        hit_mean += abs(lat.mean() - true_mean) <= hw
        hit_p99 += lo <= true_p99 <= hi
    return hit_mean / len(series), hit_p99 / len(series)


def test_latency_ci_covers_the_true_mean_and_p99_of_independent_latencies() -> None:
    rng = np.random.default_rng(7)
    # Exponential latencies, mean 10 ms: p99 = 10 ln 100 = 46.05 ms.
    series = [rng.exponential(10.0, 2000) for _ in range(300)]
    cov_mean, cov_p99 = _coverage(series, 10.0, 10.0 * math.log(100.0))
    assert 0.90 <= cov_mean <= 0.99, cov_mean
    assert 0.90 <= cov_p99 <= 1.0, cov_p99
    # The half-width is the textbook one for independent data: about 1.96 sigma / sqrt(n) = 0.44 ms.
    hws = [latency_ci(s)[0] for s in series]
    assert np.median(hws) == pytest.approx(1.96 * 10.0 / math.sqrt(2000), rel=0.15)


def test_latency_ci_widens_for_correlated_latencies() -> None:
    """Consecutive requests share a queue: an AR(1) series (phi 0.9) is covered, the i.i.d. formula is not."""
    rng = np.random.default_rng(11)
    phi, sigma = 0.9, 3.0
    sd = sigma / math.sqrt(1 - phi * phi)
    series = [50.0 + _ar1(rng, 2000, phi, sigma) for _ in range(300)]
    cov_mean, cov_p99 = _coverage(series, 50.0, 50.0 + 2.3263 * sd)
    assert cov_mean >= 0.88, cov_mean
    assert cov_p99 >= 0.85, cov_p99
    naive = np.mean([abs(s.mean() - 50.0) <= 1.96 * s.std() / math.sqrt(len(s)) for s in series])
    assert naive < 0.6, naive


def test_latency_ci_needs_enough_requests() -> None:
    assert latency_ci(np.ones(150)) == (None, None)
    hw, p99 = latency_ci(np.full(400, 5.0))
    assert hw == 0.0 and p99 == (5.0, 5.0)


def test_verdict_with_the_measured_uncertainty() -> None:
    m = _measured(mean_ci_ms=3.0, p99_ci_ms=(90.0, 140.0))
    assert band_range(m, "mean_ms") == pytest.approx((45.0, 55.0))
    assert band_range(m, "mean_ms", ci=True) == pytest.approx((42.0, 58.0))
    assert band_range(m, "p99_ms", ci=True) == pytest.approx((70.0, 160.0))
    assert verdict(m, _predicted(57.5, 155.0), False).detail.startswith("mean 57.5 vs 50.0 (+15%)")
    assert verdict(m, _predicted(57.5, 155.0), False, ci=True).status == "ok"
    assert verdict(m, _predicted(58.5, 165.0), False, ci=True) == Verdict(
        status="miss",
        detail="mean 58.5 vs 50.0 (+17%, allowed 42.0..58.0), p99 165.0 vs 100.0 (+65%, allowed 70.0..160.0)",
    )
    # Without an interval (an old result) the band is the bar's.
    assert band_range(_measured(), "p99_ms", ci=True) == pytest.approx((80.0, 120.0))


def test_framework_cpu_and_burn_at_a_points_rate() -> None:
    from sizing.validation import CalibrationData, burns_at, framework_at

    sc = _scenario(cpu_ms=2.5)
    cal = CalibrationData(framework_cpu_ms={"a": 2.0}, framework_mix_ms_at={100.0: 1.8, 300.0: 1.4})
    assert framework_at(sc, cal, 200.0)["a"] == pytest.approx(1.6)
    assert framework_at(sc, cal, 50.0)["a"] == pytest.approx(1.8)  # flat outside the calibrated rates
    assert framework_at(sc, cal, 900.0)["a"] == pytest.approx(1.4)
    # The request costs cpu_ms in total: the burn is what the framework leaves of it at that rate.
    assert sum(burns_at(sc, cal, 200.0)[0]) == pytest.approx(2.5 - 1.6)
    assert framework_at(sc, CalibrationData(framework_cpu_ms={"a": 2.0}), 200.0)["a"] == 2.0


def test_gc_pauses_in_a_point_window_are_counted_once() -> None:
    """Samples repeat the recent pauses: each counts once, only inside the window, share from the totals."""
    from sizing.validation import gc_in_window

    def sample(t: float, total_ms: float, full: list[tuple[float, float]]) -> dict[str, object]:
        return {"pid": 7, "t": t, "gc": {"n": [0, 0, len(full)], "ms": [total_ms, 0.0, 0.0], "full": full}}

    pauses = [(9.0, 80.0), (10.5, 40.0), (11.5, 60.0), (13.0, 99.0)]
    samples = [
        sample(10.0, 100.0, pauses[:1]),
        sample(11.0, 140.0, pauses[:2]),
        sample(12.0, 200.0, pauses[:3]),
    ]
    n, longest, share = gc_in_window(samples, 10.0, 12.0)
    assert (n, longest) == (2, 60.0)  # 9.0 is before the window, 13.0 after it
    assert share == pytest.approx((200.0 - 100.0) / 1000.0 / 2.0)
    assert gc_in_window([{"pid": 7, "t": 1.0}], 0.0, 2.0) == (None, None, None)  # a server without GC data


def test_admission_answers_503_past_the_limit_and_counts_it() -> None:
    """Pure ASGI: with the limit at 1, a second request while the first is in flight gets 503 at once; the
    limit off, or the first one done, the next is admitted. Internal routes are never refused."""
    import asyncio

    from sizing.validation.server import Admission, AdmissionGate

    release = asyncio.Event()

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"].startswith("/e/"):
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    gate = AdmissionGate()
    app = Admission(inner, gate)

    async def get(path: str) -> int:
        sent: list[dict[str, Any]] = []

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        await app({"type": "http", "path": path}, None, send)
        return int(sent[0]["status"])

    async def scenario() -> list[int]:
        gate.limit = 1
        first = asyncio.create_task(get("/e/0"))
        await asyncio.sleep(0)
        assert gate.in_flight == 1
        refused = await get("/e/0")
        internal = await get("/_stats")
        release.set()
        done = await first
        after = await get("/e/0")
        gate.limit = None
        unlimited = await get("/e/0")
        return [refused, internal, done, after, unlimited]

    assert asyncio.run(scenario()) == [503, 200, 200, 200, 200]
    assert gate.shed == 1 and gate.in_flight == 0


def test_cpu_control_brings_a_request_to_its_target() -> None:
    """The control law on a synthetic process: each request costs F = 1.6 ms of framework CPU (noisy) plus
    the burns at the current factor (B = 1 ms planned at factor 1); asked for a target of F + 2 ms, the
    factor settles at 2 and the CPU per request at the target. (On a real server: the CI server test.)"""
    import asyncio
    import random

    from sizing.validation.server import Control, GcClock, Meter, control_cpu

    framework, planned, target = 1.6, 1.0, 3.6
    control, meter, rng = Control(poll_s=0.0005, batch_s=0.0), Meter(), random.Random(3)
    control.enabled, control.target_ms = True, target
    clock = [0.0]
    spent: list[float] = []

    async def requests() -> None:
        for _ in range(6000):
            cost = framework * rng.uniform(0.8, 1.2) + control.factor * planned
            clock[0] += cost / 1000.0
            spent.append(cost)
            meter.add("done.0")
            if len(spent) % 60 == 0:
                await asyncio.sleep(0.001)

    async def run() -> None:
        task = asyncio.create_task(control_cpu(control, meter, GcClock(), lambda: planned, lambda: clock[0]))
        await requests()
        task.cancel()

    asyncio.run(run())
    assert control.batches > 10
    assert control.factor == pytest.approx((target - framework) / planned, rel=0.05)
    assert sum(spent[-1000:]) / 1000 == pytest.approx(target, rel=0.03)


def test_band_allows_for_what_a_run_this_long_shows() -> None:
    """A long-run p99 P shows as M in [0.8 P, 1.1 P] in runs this long: a measured 100 allows P in
    [100 / 1.1, 100 / 0.8], and the bar's 20% of 100 on each side."""
    from sizing.validation import WindowSpread

    m = _measured(mean_ms=50.0, p99_ms=100.0)
    w = WindowSpread(runs=200, window=900, warmup=100, mean_ratio=(0.95, 1.04), p99_ratio=(0.8, 1.1))
    lo, hi = band_range(m, "p99_ms", window=w) or (0.0, 0.0)
    assert lo == pytest.approx(100 / 1.1 - 20) and hi == pytest.approx(100 / 0.8 + 20)
    lo, hi = band_range(m, "mean_ms", window=w) or (0.0, 0.0)
    assert lo == pytest.approx(50 / 1.04 - 5) and hi == pytest.approx(50 / 0.95 + 5)
    assert verdict(m, _predicted(50.0, 140.0), False, window=w).status == "ok"
    assert verdict(m, _predicted(50.0, 140.0), False).detail.startswith("p99")


# --- verdict status and exit codes --------------------------------------------------------------------


def _with_scenario(report: ValidationReport, scenario: Scenario) -> ValidationReport:
    return report.model_copy(update={"scenario": scenario.model_dump(mode="json")})


def test_a_model_that_raises_gives_error_verdicts_and_exit_3(tmp_path: Path) -> None:
    """Regression: a run whose model or simulator raised used to exit 0 (its verdict text began "error",
    and only verdicts beginning "MISS" counted). Here both raise for real: the stored scenario holds a DB
    connection with a pool of 0, which evaluate and simulate refuse (validate itself refuses it upfront)."""
    broken = _scenario(db_hold_ms=5.0).model_copy(
        update={"deployment": Deployment(thread_tokens=4, db_pool_size=0, db_max_overflow=0)}
    )
    with pytest.raises(ValueError, match="db_pool_size"):
        evaluate(broken)
    again = repredict(_with_scenario(_report(), broken))
    for p in again.points:
        assert p.verdicts["model"].status == "error" and "db_pool_size" in p.verdicts["model"].detail
        assert p.verdicts["simulator"].status == "error"
    assert len(again.errors()) == 4 and again.exit_code() == EXIT_ERROR
    path = tmp_path / "stored.json"
    path.write_text(_with_scenario(_report(), broken).model_dump_json(), encoding="utf-8")
    assert main(["validate", str(path), "--repredict", "--quiet"]) == EXIT_ERROR


def test_exit_codes_of_a_stored_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """0 when every comparison is in band or not compared, 1 on a miss (the model's max_rps at 1.2x)."""
    report = _report()
    ok = report.model_copy(update={"points": report.points[:1]})
    assert ok.exit_code() == EXIT_OK
    assert report.exit_code() == EXIT_MISS
    path = tmp_path / "stored.json"
    path.write_text(report.model_dump_json(), encoding="utf-8")
    assert main(["validate", str(path), "--repredict", "--quiet", "--format", "json"]) in (EXIT_OK, EXIT_MISS)
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "sizing-validate/2" and out["predicted"] is not None
    path.write_text("{}", encoding="utf-8")
    assert main(["validate", str(path), "--repredict"]) == 2
    assert "not a validation report" in capsys.readouterr().err


def test_reports_of_format_1_are_read() -> None:
    """Stored results whose verdicts were plain strings keep their meaning."""
    data = json.loads(_report().model_dump_json())
    data["format"] = "sizing-validate/1"
    data["points"][0]["verdicts"] = {"model": "ok", "simulator": "n/a"}
    data["points"][1]["verdicts"] = {"model": "MISS max_rps 150 vs 99 (+52%)", "simulator": "error: boom"}
    old = ValidationReport.model_validate(data)
    assert old.format == "sizing-validate/2"
    assert old.points[0].verdicts["simulator"] == Verdict(status="not_compared", detail="no prediction")
    assert old.points[1].verdicts["model"] == Verdict(status="miss", detail="max_rps 150 vs 99 (+52%)")
    assert old.points[1].verdicts["simulator"] == Verdict(status="error", detail="boom")
    assert old.exit_code() == EXIT_ERROR
