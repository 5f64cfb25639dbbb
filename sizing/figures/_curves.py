"""Figures of latency against a swept quantity: the hockey stick and the blocking-call sweep."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from sizing.figures import _style as sty
from sizing.figures._data import BlockingSweep, LatencyCurve, PointEstimate

__all__ = ["blocking_figure_from", "latency_figure_from"]


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _overlay(
    points: Sequence[PointEstimate], name: str, color: str, symbols: tuple[str, str]
) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    for stat, symbol, attr in (("p99", symbols[0], "p99_ms"), ("mean", symbols[1], "mean_ms")):
        xs, ys, errs_hi, errs_lo = [], [], [], []
        for p in points:
            v = getattr(p, attr)
            if v is None:
                continue
            xs.append(p.rps)
            ys.append(v)
            b = p.bounds(stat)
            errs_hi.append(max(b[1] - v, 0.0) if b else 0.0)
            errs_lo.append(max(v - b[0], 0.0) if b else 0.0)
        if not xs:
            continue
        trace: dict[str, Any] = {
            "type": "scatter",
            "mode": "markers",
            "name": f"{name} {stat}",
            "x": xs,
            "y": ys,
            "marker": {"color": color, "symbol": symbol, "size": 9, "line": {"width": 1, "color": "white"}},
            "hovertemplate": f"{name} {stat}: %{{y:.1f}} ms at %{{x:.4g}} rps<extra></extra>",
        }
        if any(errs_hi) or any(errs_lo):
            trace["error_y"] = {
                "type": "data",
                "symmetric": False,
                "array": errs_hi,
                "arrayminus": errs_lo,
                "color": color,
            }
        traces.append(trace)
    return traces


def _curve_lines(c: LatencyCurve, color: str) -> list[dict[str, Any]]:
    """One deployment's p99 (solid) and mean (dotted) lines, toggled together in the legend."""
    styles: tuple[tuple[str, Sequence[float | None], dict[str, Any]], ...] = (
        ("p99", c.p99_ms, {"width": 2.5}),
        ("mean", c.mean_ms, {"width": 1.5, "dash": "dot"}),
    )
    return [
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"{c.label} {kind}",
            "x": list(c.rates),
            "y": list(ys),
            "line": {"color": color, **line},
            "legendgroup": c.label,
            "meta": {"kind": kind, "curve": c.label},
            "hovertemplate": f"{c.label} {kind}: %{{y:.1f}} ms at %{{x:.4g}} rps<extra></extra>",
        }
        for kind, ys, line in styles
    ]


def _saturation_lines(
    curves: Sequence[LatencyCurve], y1: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A vertical line and a label at each curve's saturation rate (none for a curve that never saturates)."""
    traces: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, c in enumerate(curves):
        if c.saturation_rps > 0:
            color = sty.color_for(c.label, i)
            where = sty.STAGE_LABELS.get(c.bottleneck, c.bottleneck)
            traces.append(
                sty.vline(
                    f"{c.label} saturates: {c.saturation_rps:.4g} rps ({where})",
                    c.saturation_rps,
                    0.0,
                    y1,
                    color,
                    dash="dash",
                    meta={"kind": "saturation", "curve": c.label},
                )
            )
            # Staggered so two saturation labels close together do not print over each other.
            notes.append(
                sty.note(
                    f"{c.label} saturates {c.saturation_rps:.4g} ({where})",
                    c.saturation_rps,
                    y1 * (0.97 - 0.08 * i),
                    color,
                    xanchor="right",
                    yanchor="top",
                )
            )
    return traces, notes


def _stall_lines(
    curves: Sequence[LatencyCurve], y1: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A vertical line and a label at each curve's stall_rps: past it the fleet expects a stall within a day."""
    traces: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, c in enumerate(curves):
        if c.stall_rps is None:
            continue
        color = sty.color_for(c.label, i)
        name = f"{c.label} can stall past {c.stall_rps:.4g} rps (sessions held across token passes)"
        traces.append(sty.vline(name, c.stall_rps, 0.0, y1, color, dash="dashdot",
                                meta={"kind": "stall", "curve": c.label}))
        notes.append(sty.note(f"{c.label} stalls {c.stall_rps:.4g}", c.stall_rps, y1 * (0.55 - 0.08 * i), color,
                              xanchor="right", yanchor="top"))
    return traces, notes


def _slo_line(slo_ms: float, x1: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The p99 target from 0 to `x1`, and its label at the left end."""
    name = f"p99 target {slo_ms:g} ms"
    line = sty.hline(name, slo_ms, 0.0, x1, sty.TARGET, meta={"kind": "slo"})
    return line, sty.note(name, 0.0, slo_ms, sty.TARGET, xanchor="left", yanchor="bottom")


def _peak_line(peak_rps: float, y1: float) -> tuple[dict[str, Any], dict[str, Any]]:
    line = sty.vline(f"peak {peak_rps:.4g} rps", peak_rps, 0.0, y1, sty.PEAK, meta={"kind": "peak"})
    return line, sty.note(f"peak {peak_rps:.4g}", peak_rps, 0.0, sty.PEAK, xanchor="left", yanchor="bottom")


def latency_figure_from(
    curves: Sequence[LatencyCurve],
    *,
    slo_ms: float,
    peak_rps: float,
    measured: Sequence[PointEstimate] = (),
    simulated: Sequence[PointEstimate] = (),
) -> go.Figure:
    """The hockey stick: mean (dotted) and p99 (solid) per deployment, SLO, peak and saturation lines, and
    where a deployment's sessions can stall a worker, its stall_rps (dash-dot)."""
    x1 = max([peak_rps, *(max(c.rates, default=0.0) for c in curves)]) * 1.02
    all_y = [y for c in curves for y in _finite(c.p99_ms) + _finite(c.mean_ms)]
    all_y += [v for p in [*measured, *simulated] for v in (p.mean_ms, p.p99_ms) if v is not None]
    y1 = sty.y_top(all_y, slo_ms)
    traces = [line for i, c in enumerate(curves) for line in _curve_lines(c, sty.color_for(c.label, i))]
    saturations, notes = _saturation_lines(curves, y1)
    stalls, stall_notes = _stall_lines(curves, y1)
    saturations += stalls
    notes += stall_notes
    slo, slo_note = _slo_line(slo_ms, x1)
    peak, peak_note = _peak_line(peak_rps, y1)
    traces += [*saturations, slo, peak]
    notes += [slo_note, peak_note]
    traces += _overlay(measured, "measured", sty.MEASURED, ("diamond", "diamond-open"))
    traces += _overlay(simulated, "simulated", sty.SIMULATED, ("square", "square-open"))
    lay = sty.layout(
        "Latency against request rate",
        "requests per second (whole service)",
        "latency (ms)",
        annotations=notes,
    )
    lay["yaxis"]["range"] = [0.0, y1]
    lay["xaxis"]["range"] = [0.0, x1]
    return go.Figure(data=traces, layout=lay)


def _blocking_lines(sweep: BlockingSweep) -> list[dict[str, Any]]:
    """p99 (solid, with the loop's utilization on hover) and mean (dotted) against the blocking time."""
    x = list(sweep.durations_ms)
    return [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "p99",
            "x": x,
            "y": list(sweep.p99_ms),
            "line": {"color": sty.RECOMMENDED, "width": 2.5},
            "meta": {"kind": "p99"},
            "customdata": [[u] for u in sweep.loop_utilization],
            "hovertemplate": "p99 %{y:.1f} ms with %{x:.3g} ms blocking "
            "(loop %{customdata[0]:.0%} busy)<extra></extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "mean",
            "x": x,
            "y": list(sweep.mean_ms),
            "line": {"color": sty.RECOMMENDED, "width": 1.5, "dash": "dot"},
            "meta": {"kind": "mean"},
            "hovertemplate": "mean %{y:.1f} ms with %{x:.3g} ms blocking<extra></extra>",
        },
    ]


def _loop_saturation_line(saturation_ms: float, y1: float) -> tuple[dict[str, Any], dict[str, Any]]:
    name = f"event loop saturates at {saturation_ms:.3g} ms"
    line = sty.vline(name, saturation_ms, 0.0, y1, sty.UNSTABLE, dash="dash", meta={"kind": "saturation"})
    return line, sty.note(name, saturation_ms, y1 * 0.97, sty.UNSTABLE, xanchor="right", yanchor="top")


def blocking_figure_from(sweep: BlockingSweep, *, slo_ms: float) -> go.Figure:
    """p99 and mean latency at the peak against the duration of a blocking call inside `async def`."""
    lay = sty.layout(
        "A blocking call inside async def", "blocking time per async request (ms)", "latency (ms)"
    )
    if not sweep.durations_ms:
        return sty.empty_figure(lay, "no `async def` class in this scenario: nothing can block the loop")
    y1 = sty.y_top(_finite(sweep.p99_ms) + _finite(sweep.mean_ms), slo_ms)
    slo, slo_note = _slo_line(slo_ms, sweep.durations_ms[-1])
    traces = [*_blocking_lines(sweep), slo]
    notes = [slo_note]
    if sweep.saturation_ms is not None:
        saturation, saturation_note = _loop_saturation_line(sweep.saturation_ms, y1)
        traces.append(saturation)
        notes.append(saturation_note)
    lay["yaxis"]["range"] = [0.0, y1]
    lay["annotations"] = notes
    return go.Figure(data=traces, layout=lay)
