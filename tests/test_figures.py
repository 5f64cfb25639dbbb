"""The figures are pure functions of the model: every plotted number is the model's for that point."""

from __future__ import annotations

import math
from typing import Any

import plotly.io as pio
import pytest

from sizing import (
    Deployment,
    Endpoint,
    Scenario,
    Targets,
    Traffic,
    latency_at,
    preset,
    recommend,
    stages_at,
)
from sizing.figures import (
    PointEstimate,
    blocking_figure,
    blocking_sweep,
    count_grid,
    db_budget_figure,
    latency_curve,
    latency_curve_figure,
    sensitivity_figure,
    simulation_figure,
    sweep_values,
    utilization_figure,
    wait_sweep_figure,
)
from sizing.model import max_rps


def _traces(fig: Any, kind: str, **meta: Any) -> list[Any]:
    out = []
    for t in fig.data:
        m = t.meta if isinstance(t.meta, dict) else {}
        if m.get("kind") == kind and all(m.get(k) == v for k, v in meta.items()):
            out.append(t)
    return out


def _one(fig: Any, kind: str, **meta: Any) -> Any:
    found = _traces(fig, kind, **meta)
    assert len(found) == 1, (kind, meta, [t.name for t in fig.data])
    return found[0]


@pytest.fixture(scope="module")
def mixed() -> tuple[Scenario, Deployment]:
    s = preset("mixed service")
    dep = recommend(s).deployment_for(s)
    assert dep is not None
    return s, dep


@pytest.fixture(scope="module")
def latency_fig(mixed: tuple[Scenario, Deployment]) -> Any:
    s, rec = mixed
    measured = [PointEstimate(rps=200.0, mean_ms=50.0, p99_ms=300.0), PointEstimate(rps=250.0, p99_ms=380.0)]
    simulated = [PointEstimate(rps=300.0, mean_ms=70.0, p99_ms=450.0, ci=(("p99", 430.0, 470.0),))]
    return latency_curve_figure(s, rec, measured=measured, simulated=simulated, points=8)


def test_latency_figure_has_both_curves_slo_peak_and_saturation(latency_fig: Any, mixed: Any) -> None:
    s, _ = mixed
    for curve in ("today", "recommended"):
        _one(latency_fig, "p99", curve=curve)
        _one(latency_fig, "mean", curve=curve)
        _one(latency_fig, "saturation", curve=curve)
    slo = _one(latency_fig, "slo")
    assert set(slo.y) == {s.targets.latency_p99_ms}
    peak = _one(latency_fig, "peak")
    assert set(peak.x) == {s.traffic.peak_rps}


def test_latency_curve_points_are_the_models(latency_fig: Any, mixed: Any) -> None:
    s, rec = mixed
    for curve, dep in (("today", s.deployment), ("recommended", rec)):
        p99 = _one(latency_fig, "p99", curve=curve)
        mean = _one(latency_fig, "mean", curve=curve)
        finite = [(x, y, m) for x, y, m in zip(p99.x, p99.y, mean.y, strict=True) if y is not None]
        assert len(finite) >= 3
        for x, y, m in (finite[0], finite[len(finite) // 2]):
            lat = latency_at(s, x, dep, coarse=True)
            assert y == pytest.approx(lat.p99_ms, rel=1e-9)
            assert m == pytest.approx(lat.mean_ms, rel=1e-9)


def test_saturation_line_is_at_max_rps_and_the_curve_stops_there(latency_fig: Any, mixed: Any) -> None:
    s, _ = mixed
    sat, _bottleneck = max_rps(s)
    line = _one(latency_fig, "saturation", curve="today")
    assert list(line.x) == [pytest.approx(sat)] * 2
    p99 = _one(latency_fig, "p99", curve="today")
    assert all(y is None for x, y in zip(p99.x, p99.y, strict=True) if x >= sat)
    assert any(y is not None for x, y in zip(p99.x, p99.y, strict=True) if x < sat)


def test_measured_and_simulated_points_are_overlaid(latency_fig: Any) -> None:
    names = {t.name: t for t in latency_fig.data}
    assert list(names["measured p99"].y) == [300.0, 380.0]
    assert list(names["measured mean"].x) == [200.0]
    sim = names["simulated p99"]
    assert list(sim.y) == [450.0]
    assert list(sim.error_y.array) == [pytest.approx(20.0)]
    assert list(sim.error_y.arrayminus) == [pytest.approx(20.0)]


def test_latency_curve_without_recommendation_and_an_unstable_today() -> None:
    s = Scenario(
        traffic=Traffic(rps=400),
        endpoints=[Endpoint(name="slow", share=1.0, handler="sync", cpu_ms=0.5, other_io_ms=50.0)],
        deployment=Deployment(thread_tokens=4, db_pool_size=0, db_max_overflow=0),
    )
    fig = latency_curve_figure(s, points=6)
    p99 = _one(fig, "p99", curve="today")
    sat = max_rps(s)[0]
    assert sat < 400
    assert p99.y[-1] is None
    assert not _traces(fig, "p99", curve="recommended")
    pio.to_json(fig, validate=True)


def test_curve_uses_a_known_saturation_without_searching(mixed: Any) -> None:
    s, _ = mixed
    c = latency_curve(s, s.deployment, label="x", saturation=(100.0, "cpu"), points=4)
    assert c.saturation_rps == 100.0 and c.bottleneck == "cpu"
    assert max(c.rates) == pytest.approx(1.1 * s.traffic.peak_rps)
    assert all(m is None for r, m in zip(c.rates, c.mean_ms, strict=True) if r >= 100.0)


@pytest.fixture(scope="module")
def wait_fig(mixed: Any) -> Any:
    s, rec = mixed
    return wait_sweep_figure(s, rec)


def test_wait_sweep_marks_recommendation_and_today(wait_fig: Any, mixed: Any) -> None:
    s, rec = mixed
    for field in ("thread_tokens", "db_pool_size"):
        marks = {
            t.meta["label"]: t
            for t in _traces(wait_fig, "mark")
            if t.meta["value"] in (getattr(rec, field), getattr(s.deployment, field))
        }
        assert "recommended" in marks and "today" in marks
    rec_marks = {t.meta["value"] for t in _traces(wait_fig, "mark", label="recommended")}
    assert rec_marks == {rec.thread_tokens, rec.db_pool_size} or rec.thread_tokens == rec.db_pool_size


def test_wait_sweep_values_are_the_models(wait_fig: Any, mixed: Any) -> None:
    s, rec = mixed
    target = _traces(wait_fig, "target")
    assert target and set(target[0].y) == {s.targets.max_pool_wait_p99_ms}
    for field, stage in (("thread_tokens", "thread_tokens"), ("db_pool_size", "db_pool")):
        tr = _one(wait_fig, "wait", field=field)
        assert getattr(rec, field) in tr.x
        for x, y in list(zip(tr.x, tr.y, strict=True))[::4]:
            st = next(
                st
                for st in stages_at(s, s.traffic.peak_rps, rec.model_copy(update={field: x}))
                if st.name == stage
            )
            assert y == (
                None if st.wait_p99_ms is None else pytest.approx(st.wait_p99_ms, rel=1e-9, abs=1e-12)
            )


def test_utilization_bars_match_stages_and_flag_unstable() -> None:
    s = preset("sync SQLAlchemy CRUD")
    starved = s.model_copy(update={"deployment": s.deployment.model_copy(update={"thread_tokens": 1})})
    fig = utilization_figure(starved)
    bars = _one(fig, "utilization", label="today")
    stages = {st.name: st for st in stages_at(starved, starved.traffic.peak_rps)}
    assert bars.meta["values"][0] == pytest.approx(stages["thread_tokens"].utilization)
    assert not stages["thread_tokens"].stable
    assert bars.text[0] == "unstable"
    assert bars.y[0] <= 1.3  # capped: an unbounded bar would flatten every other one
    shapes = {sh.name: sh for sh in fig.layout.shapes}
    target = shapes[f"CPU target {s.targets.max_cpu_utilization:.0%}"]
    assert target.y0 == target.y1 == s.targets.max_cpu_utilization
    assert shapes["saturation (100%)"].y0 == 1.0
    assert all(isinstance(x, str) for x in bars.x)  # no numeric categories slipped onto the axis
    pio.to_json(fig, validate=True)


def test_db_budget_stacks_hosts_workers_pool_against_max_connections() -> None:
    s = preset("sync SQLAlchemy CRUD")
    d = s.deployment
    fig = db_budget_figure(s)
    parts = {t.meta["part"]: t for t in _traces(fig, "stack")}
    assert list(parts["pool_size"].y) == [d.hosts * d.workers_per_host * d.db_pool_size]
    assert list(parts["max_overflow"].y) == [d.hosts * d.workers_per_host * d.db_max_overflow]
    assert list(parts["reserved (not for the app)"].y) == [d.db_reserved_connections]
    (limit,) = fig.layout.shapes
    assert limit.name == f"max_connections {d.db_max_connections}" and limit.y0 == d.db_max_connections
    over = d.fleet_db_connections > d.db_connection_budget
    assert any(a.text == "over budget" for a in fig.layout.annotations) == over
    assert all(isinstance(x, str) for t in fig.data for x in t.x)


def test_sensitivity_cells_are_the_models_and_the_recommendation_is_marked(mixed: Any) -> None:
    s, rec = mixed
    fig = sensitivity_figure(s, rec)
    heat = _one(fig, "heatmap", metric="p99")
    assert len(heat.x) == 6 and len(heat.y) == 6
    mark = _one(fig, "mark", label="recommended")
    assert (mark.x[0], mark.y[0]) == (str(rec.thread_tokens), str(rec.db_pool_size))
    i, j = heat.y.index(str(rec.db_pool_size)), heat.x.index(str(rec.thread_tokens))
    lat = latency_at(s, s.traffic.peak_rps, rec, coarse=True)
    assert heat.z[i][j] == pytest.approx(lat.p99_ms, rel=1e-9)
    j0 = 0
    dep = rec.model_copy(update={"thread_tokens": int(heat.x[j0]), "db_pool_size": int(heat.y[i])})
    p99 = latency_at(s, s.traffic.peak_rps, dep, coarse=True).p99_ms
    assert heat.z[i][j0] == (None if p99 is None else pytest.approx(p99, rel=1e-9))


def test_sensitivity_unstable_cells_are_marked_not_nan() -> None:
    # 400 rps x 50 ms = 20 tokens busy on average: the grid's 5, 10 and 15 tokens are past saturation.
    s = Scenario(
        traffic=Traffic(rps=400),
        endpoints=[Endpoint(name="slow", share=1.0, handler="sync", cpu_ms=0.5, other_io_ms=50.0)],
        deployment=Deployment(thread_tokens=30, cores_per_host=4, db_pool_size=0, db_max_overflow=0),
    )
    fig = sensitivity_figure(s, metric="p99")
    heat = _one(fig, "heatmap")
    cells = [v for row in heat.z for v in row]
    assert None in cells and any(v is not None for v in cells)
    assert all(v is None or math.isfinite(v) for v in cells)
    labels = [t for row in heat.text for t in row]
    assert labels.count("unstable") == cells.count(None)
    assert "NaN" not in pio.to_json(fig) and "Infinity" not in pio.to_json(fig)


def test_sensitivity_max_rps_metric(mixed: Any) -> None:
    s, rec = mixed
    fig = sensitivity_figure(s, rec, metric="max_rps")
    heat = _one(fig, "heatmap", metric="max_rps")
    i, j = heat.y.index(str(rec.db_pool_size)), heat.x.index(str(rec.thread_tokens))
    assert heat.z[i][j] == pytest.approx(max_rps(s, rec)[0], rel=1e-9)
    with pytest.raises(ValueError, match="metric"):
        sensitivity_figure(s, rec, metric="nope")


def test_blocking_sweep_starts_at_the_model_and_saturates_where_the_loop_does(mixed: Any) -> None:
    s, _ = mixed
    sweep = blocking_sweep(s, s.deployment, points=5)
    assert sweep.durations_ms[0] == 0.0
    assert sweep.p99_ms[0] == pytest.approx(latency_at(s, s.traffic.peak_rps, coarse=True).p99_ms, rel=1e-9)
    assert sweep.saturation_ms is not None
    for factor, stable in ((0.98, True), (1.02, False)):
        d = factor * sweep.saturation_ms
        blocked = s.model_copy(
            update={
                "endpoints": [
                    e.model_copy(update={"blocking_in_async_ms": d}) if e.handler == "async" else e
                    for e in s.endpoints
                ]
            }
        )
        loop = next(st for st in stages_at(blocked, s.traffic.peak_rps) if st.name == "event_loop")
        assert loop.stable is stable
    assert sweep.p99_ms[-1] is None  # the sweep runs past saturation
    fig = blocking_figure(s, points=5)
    assert set(_one(fig, "slo").y) == {s.targets.latency_p99_ms}
    assert list(_one(fig, "saturation").x) == [pytest.approx(sweep.saturation_ms)] * 2


def test_blocking_figure_without_async_endpoints_says_so() -> None:
    fig = blocking_figure(preset("sync SQLAlchemy CRUD"))
    assert not fig.data
    assert "no `async def`" in fig.layout.annotations[0].text


def test_simulation_figure_shows_histogram_and_both_percentile_sets() -> None:
    from sizing import simulate

    s = Scenario.simple(rps=100, sync_fraction=0.5, upstream_latency_ms=40, db_pool_size=5)
    res = simulate(s, requests=12_000, replications=2, seed=1)
    analytic = latency_at(s, s.traffic.peak_rps)
    fig = simulation_figure(res, analytic)
    hist = _one(fig, "histogram")
    assert res.histogram is not None and sum(hist.y) == sum(res.histogram.counts)
    sim99 = _one(fig, "percentile", source="simulated", stat="p99")
    assert set(sim99.x) == {res.overall.p99_ms}
    model99 = _one(fig, "percentile", source="model", stat="p99")
    assert set(model99.x) == {analytic.p99_ms}


@pytest.mark.parametrize("anchor", [1, 2, 5, 19, 40, 300])
def test_sweep_values_cover_the_anchor_densely_at_the_low_end(anchor: int) -> None:
    vals = sweep_values(anchor)
    assert anchor in vals and vals == tuple(sorted(set(vals)))
    assert vals[0] == 1 and vals[-1] >= 2 * anchor
    assert len(vals) <= 13


@pytest.mark.parametrize(("center", "other"), [(1, None), (5, 40), (19, 40), (40, 5), (0, 3), (1000, 1)])
def test_count_grid_has_six_distinct_values_with_the_anchors(center: int, other: int | None) -> None:
    grid = count_grid(center, other)
    assert len(grid) == 6 and grid == tuple(sorted(set(grid))) and grid[0] >= 1
    assert max(center, 1) in grid


def test_figures_serialise_to_strict_json(mixed: Any, latency_fig: Any, wait_fig: Any) -> None:
    for fig in (latency_fig, wait_fig, db_budget_figure(*mixed)):
        text = pio.to_json(fig, validate=True)
        assert "NaN" not in text and "Infinity" not in text
    assert Targets().latency_p99_ms > 0
