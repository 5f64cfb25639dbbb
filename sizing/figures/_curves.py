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


def latency_figure_from(
    curves: Sequence[LatencyCurve],
    *,
    slo_ms: float,
    peak_rps: float,
    measured: Sequence[PointEstimate] = (),
    simulated: Sequence[PointEstimate] = (),
) -> go.Figure:
    """The hockey stick: mean (dotted) and p99 (solid) per deployment, SLO, peak and saturation lines."""
    traces: list[dict[str, Any]] = []
    all_y: list[float] = []
    top_x = max([peak_rps, *(max(c.rates, default=0.0) for c in curves)])
    for i, c in enumerate(curves):
        color = sty.color_for(c.label, i)
        all_y += _finite(c.p99_ms) + _finite(c.mean_ms)
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{c.label} p99",
                "x": list(c.rates),
                "y": list(c.p99_ms),
                "line": {"color": color, "width": 2.5},
                "legendgroup": c.label,
                "meta": {"kind": "p99", "curve": c.label},
                "hovertemplate": f"{c.label} p99: %{{y:.1f}} ms at %{{x:.4g}} rps<extra></extra>",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{c.label} mean",
                "x": list(c.rates),
                "y": list(c.mean_ms),
                "line": {"color": color, "width": 1.5, "dash": "dot"},
                "legendgroup": c.label,
                "meta": {"kind": "mean", "curve": c.label},
                "hovertemplate": f"{c.label} mean: %{{y:.1f}} ms at %{{x:.4g}} rps<extra></extra>",
            }
        )
    for p in [*measured, *simulated]:
        all_y += [v for v in (p.mean_ms, p.p99_ms) if v is not None]
    y1 = sty.y_top(all_y, slo_ms)
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
    traces.append(
        sty.hline(f"p99 target {slo_ms:g} ms", slo_ms, 0.0, top_x * 1.02, sty.TARGET, meta={"kind": "slo"})
    )
    notes.append(
        sty.note(f"p99 target {slo_ms:g} ms", 0.0, slo_ms, sty.TARGET, xanchor="left", yanchor="bottom")
    )
    traces.append(sty.vline(f"peak {peak_rps:.4g} rps", peak_rps, 0.0, y1, sty.PEAK, meta={"kind": "peak"}))
    notes.append(sty.note(f"peak {peak_rps:.4g}", peak_rps, 0.0, sty.PEAK, xanchor="left", yanchor="bottom"))
    traces += _overlay(measured, "measured", sty.MEASURED, ("diamond", "diamond-open"))
    traces += _overlay(simulated, "simulated", sty.SIMULATED, ("square", "square-open"))
    lay = sty.layout(
        "Latency against request rate",
        "requests per second (whole service)",
        "latency (ms)",
        annotations=notes,
    )
    lay["yaxis"]["range"] = [0.0, y1]
    lay["xaxis"]["range"] = [0.0, top_x * 1.02]
    return go.Figure(data=traces, layout=lay)


def blocking_figure_from(sweep: BlockingSweep, *, slo_ms: float) -> go.Figure:
    """p99 and mean latency at the peak against the duration of a blocking call inside `async def`."""
    lay = sty.layout(
        "A blocking call inside async def", "blocking time per async request (ms)", "latency (ms)"
    )
    if not sweep.durations_ms:
        lay["annotations"] = [
            {
                "text": "no `async def` class in this scenario: nothing can block the loop",
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "showarrow": False,
            }
        ]
        return go.Figure(data=[], layout=lay)
    y1 = sty.y_top(_finite(sweep.p99_ms) + _finite(sweep.mean_ms), slo_ms)
    x = list(sweep.durations_ms)
    traces: list[dict[str, Any]] = [
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
        sty.hline(f"p99 target {slo_ms:g} ms", slo_ms, 0.0, x[-1], sty.TARGET, meta={"kind": "slo"}),
    ]
    notes = [sty.note(f"p99 target {slo_ms:g} ms", 0.0, slo_ms, sty.TARGET, xanchor="left", yanchor="bottom")]
    if sweep.saturation_ms is not None:
        traces.append(
            sty.vline(
                f"event loop saturates at {sweep.saturation_ms:.3g} ms",
                sweep.saturation_ms,
                0.0,
                y1,
                sty.UNSTABLE,
                dash="dash",
                meta={"kind": "saturation"},
            )
        )
        notes.append(
            sty.note(
                f"event loop saturates at {sweep.saturation_ms:.3g} ms",
                sweep.saturation_ms,
                y1 * 0.97,
                sty.UNSTABLE,
                xanchor="right",
                yanchor="top",
            )
        )
    lay["yaxis"]["range"] = [0.0, y1]
    lay["annotations"] = notes
    return go.Figure(data=traces, layout=lay)
