"""The simulator's latency histogram with its percentiles against the analytic model's."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from sizing.figures import _style as sty
from sizing.figures._data import PointEstimate
from sizing.model._results import Latency
from sizing.simulation import LatencyHistogram, SimulationResult

__all__ = ["simulated_point", "simulation_figure"]

_STATS = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))


def simulated_point(result: SimulationResult) -> PointEstimate:
    """The simulation's overall latency at its rate, with 95% confidence bounds, for the latency chart."""
    o = result.overall
    ci = []
    for stat, attr in (("mean", "mean_ms"), *_STATS):
        v = getattr(o, attr)
        h = result.ci.get(f"latency.overall.{attr}")
        if v is not None and h is not None:
            ci.append((stat, max(v - h, 0.0), v + h))
    return PointEstimate(
        rps=result.rps, mean_ms=o.mean_ms, p50_ms=o.p50_ms, p95_ms=o.p95_ms, p99_ms=o.p99_ms, ci=tuple(ci)
    )


def _histogram_bars(h: LatencyHistogram) -> dict[str, Any]:
    """The simulator's own bins as bars (each at its centre, as wide as the bin), not re-binned by plotly."""
    centers = [(a + b) / 2 for a, b in zip(h.edges_ms[:-1], h.edges_ms[1:], strict=True)]
    widths = [b - a for a, b in zip(h.edges_ms[:-1], h.edges_ms[1:], strict=True)]
    return {
        "type": "bar",
        "name": "simulated requests",
        "x": centers,
        "y": list(h.counts),
        "width": widths,
        "marker": {"color": "#c9d3d8"},
        "meta": {"kind": "histogram"},
        "hovertemplate": "%{y} requests around %{x:.0f} ms<extra></extra>",
    }


def _percentile_lines(simulated: Latency, analytic: Latency | None, top: float) -> list[dict[str, Any]]:
    """A vertical line per known percentile: the simulation's solid, the model's dashed."""
    traces: list[dict[str, Any]] = []
    for source, lat, color, dash in (
        ("simulated", simulated, sty.SIMULATED, "solid"),
        ("model", analytic, sty.RECOMMENDED, "dash"),
    ):
        if lat is None:
            continue
        for stat, attr in _STATS:
            v = getattr(lat, attr)
            if v is not None:
                traces.append(
                    sty.vline(
                        f"{source} {stat} {v:.0f} ms",
                        v,
                        0.0,
                        top,
                        color,
                        dash=dash,
                        meta={"kind": "percentile", "source": source, "stat": stat},
                    )
                )
    return traces


def _overflow_note(overflow: int) -> dict[str, Any]:
    return {
        "text": f"{overflow} slower requests beyond the last bin",
        "showarrow": False,
        "xref": "paper",
        "yref": "paper",
        "x": 1,
        "y": 1,
        "xanchor": "right",
    }


def simulation_figure(result: SimulationResult, analytic: Latency | None = None) -> go.Figure:
    """Histogram of simulated end-to-end latency (all classes), simulated percentiles (solid) and the
    analytic model's (dashed) at the same rate and deployment."""
    lay = sty.layout(f"Simulated latency at {result.rps:.4g} rps", "latency (ms)", "requests")
    h = result.histogram
    if h is None or not h.counts:
        return sty.empty_figure(lay, "the simulation kept no histogram (unstable or stopped early)")
    top = max(h.counts, default=1) * 1.08
    traces = [_histogram_bars(h), *_percentile_lines(result.overall, analytic, top)]
    lay["yaxis"]["range"] = [0, top]
    lay["bargap"] = 0
    if h.overflow:
        lay["annotations"] = [_overflow_note(h.overflow)]
    return go.Figure(data=traces, layout=lay)
