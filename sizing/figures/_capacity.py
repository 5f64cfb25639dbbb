"""Figures of capacity: waits against pool sizes, stage utilization, the DB connection budget, sensitivity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from sizing.figures import _style as sty
from sizing.figures._data import BudgetBar, Heatmap, WaitSweep
from sizing.model._results import Stage

__all__ = ["budget_figure_from", "sensitivity_figure_from", "utilization_figure_from", "wait_figure_from"]

_SWEEP_TITLES = {"thread_tokens": "thread tokens per worker", "db_pool_size": "DB pool size per worker"}
# Bars past saturation are drawn at this height with the word "unstable", not at an unbounded value.
_UNSTABLE_BAR = 1.3


@dataclass(frozen=True, slots=True)
class _Panel:
    """Where one sweep is drawn: its pair of axes and the top of its y axis."""

    xref: str
    yref: str
    y1: float


def _panel_axes(
    sw: WaitSweep, panel: _Panel, first: bool, domain: list[float]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The x and y axis of one panel; only the first panel's y axis is titled (they share the unit)."""
    xaxis = {
        "domain": domain,
        "anchor": panel.yref,
        "title": {"text": _SWEEP_TITLES.get(sw.field, sw.field)},
        "gridcolor": sty.GRID,
    }
    yaxis = {
        "anchor": panel.xref,
        "range": [0.0, panel.y1],
        "gridcolor": sty.GRID,
        "title": {"text": "p99 wait (ms)" if first else ""},
    }
    return xaxis, yaxis


def _wait_line(sw: WaitSweep, panel: _Panel) -> dict[str, Any]:
    stage = sty.STAGE_LABELS[sw.stage]
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": f"p99 wait: {stage}",
        "x": list(sw.values),
        "y": list(sw.wait_p99_ms),
        "xaxis": panel.xref,
        "yaxis": panel.yref,
        "line": {"color": sty.RECOMMENDED, "width": 2},
        "marker": {"size": 5},
        "meta": {"kind": "wait", "field": sw.field},
        "hovertemplate": f"%{{x}}: p99 wait %{{y:.1f}} ms<extra>{stage}</extra>",
    }


def _unstable_marks(bad: list[int], panel: _Panel) -> tuple[dict[str, Any], dict[str, Any]]:
    """Crosses near the top for the sizes whose wait is unbounded (they have no point on the line)."""
    crosses = {
        "type": "scatter",
        "mode": "markers",
        "name": "unstable (queue grows without bound)",
        "x": bad,
        "y": [panel.y1 * 0.97] * len(bad),
        "xaxis": panel.xref,
        "yaxis": panel.yref,
        "marker": {"symbol": "x", "color": sty.UNSTABLE, "size": 9},
        "meta": {"kind": "unstable"},
        "hovertemplate": "%{x}: unstable<extra></extra>",
    }
    label = sty.note(
        "× unstable",
        bad[-1],
        panel.y1 * 0.9,
        sty.UNSTABLE,
        xref=panel.xref,
        yref=panel.yref,
        xanchor="left",
        yanchor="top",
    )
    return crosses, label


def _target_line(target_ms: float, xs: Sequence[int], panel: _Panel) -> tuple[dict[str, Any], dict[str, Any]]:
    line = sty.hline(
        f"wait target {target_ms:g} ms",
        target_ms,
        xs[0],
        xs[-1],
        sty.TARGET,
        xaxis=panel.xref,
        yaxis=panel.yref,
        meta={"kind": "target"},
    )
    label = sty.note(
        f"target {target_ms:g} ms",
        xs[-1],
        target_ms,
        sty.TARGET,
        xref=panel.xref,
        yref=panel.yref,
        xanchor="right",
        yanchor="bottom",
    )
    return line, label


def _value_marks(
    field: str, marks: Mapping[str, Mapping[str, int]], panel: _Panel
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """A vertical line and a label at each deployment's value of `field` (solid for the recommendation)."""
    out: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for j, (label, fields) in enumerate(marks.items()):
        if field not in fields:
            continue
        v = fields[field]
        color = sty.color_for(label, j)
        line = sty.vline(
            f"{label}: {v}",
            v,
            0.0,
            panel.y1,
            color,
            dash="solid" if label == "recommended" else "dot",
            xaxis=panel.xref,
            yaxis=panel.yref,
            meta={"kind": "mark", "label": label, "value": v},
        )
        # Staggered so today's and the recommended label do not print over each other.
        text = sty.note(
            f"{label} {v}",
            v,
            panel.y1 * (0.97 - 0.12 * j),
            color,
            xref=panel.xref,
            yref=panel.yref,
            xanchor="left",
            yanchor="top",
        )
        out.append((line, text))
    return out


def _unused_note(stage: str, panel: _Panel) -> dict[str, Any]:
    return {
        "text": f"no request uses {sty.STAGE_LABELS[stage]}",
        "showarrow": False,
        "xref": f"{panel.xref} domain",
        "yref": f"{panel.yref} domain",
        "x": 0.5,
        "y": 0.5,
    }


def _wait_panel(
    sw: WaitSweep, panel: _Panel, target_ms: float, marks: Mapping[str, Mapping[str, int]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The traces and annotations of one sweep's panel."""
    traces = [_wait_line(sw, panel)]
    notes: list[dict[str, Any]] = []
    bad = [v for v, w in zip(sw.values, sw.wait_p99_ms, strict=True) if w is None]
    pairs = [_unstable_marks(bad, panel)] if bad else []
    pairs.append(_target_line(target_ms, sw.values, panel))
    pairs += _value_marks(sw.field, marks, panel)
    for trace, note in pairs:
        traces.append(trace)
        notes.append(note)
    if not sw.used:
        notes.append(_unused_note(sw.stage, panel))
    return traces, notes


def wait_figure_from(
    sweeps: Sequence[WaitSweep], *, target_ms: float, marks: Mapping[str, Mapping[str, int]]
) -> go.Figure:
    """One panel per sweep: the stage's p99 wait at the peak against its size, today's and the
    recommended value marked (`marks[label][field]`), and the pool-wait target."""
    n = max(len(sweeps), 1)
    gap = 0.1
    width = (1.0 - gap * (n - 1)) / n
    lay = sty.layout("p99 wait against pool size (at peak)", "", "p99 wait (ms)")
    traces: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, sw in enumerate(sweeps):
        ax = "" if i == 0 else str(i + 1)
        finite = [w for w in sw.wait_p99_ms if w is not None]
        panel = _Panel(f"x{ax}", f"y{ax}", sty.y_top(finite, target_ms, cap_factor=4.0))
        left = i * (width + gap)
        lay[f"xaxis{ax}"], lay[f"yaxis{ax}"] = _panel_axes(sw, panel, i == 0, [left, left + width])
        panel_traces, panel_notes = _wait_panel(sw, panel, target_ms, marks)
        traces += panel_traces
        annotations += panel_notes
    lay["annotations"] = annotations
    lay["showlegend"] = False  # every line is labelled where it is drawn
    lay["margin"]["b"] = 50
    return go.Figure(data=traces, layout=lay)


def _shown(util: float) -> float:
    return min(util, _UNSTABLE_BAR) if util == util else _UNSTABLE_BAR


def utilization_figure_from(stages: Mapping[str, Sequence[Stage]], *, cpu_target: float) -> go.Figure:
    """Utilization of every stage per deployment, unstable ones capped and labelled, target and 1.0 lines."""
    order = ["thread_tokens", "db_pool", "http_pool", "cpu", "event_loop"]
    names = [sty.STAGE_LABELS[n] for n in order]
    traces: list[dict[str, Any]] = []
    for i, (label, sts) in enumerate(stages.items()):
        by = {s.name: s for s in sts}
        utils = [by[n].utilization if n in by else 0.0 for n in order]
        text = [
            "unstable" if n in by and not by[n].stable else f"{u:.0%}"
            for n, u in zip(order, utils, strict=True)
        ]
        traces.append(
            {
                "type": "bar",
                "name": label,
                "x": names,
                "y": [_shown(u) for u in utils],
                "text": text,
                "textposition": "outside",
                "marker": {"color": sty.color_for(label, i)},
                "customdata": [
                    [u, by[n].servers if n in by else 0] for n, u in zip(order, utils, strict=True)
                ],
                "meta": {"kind": "utilization", "label": label, "values": utils},
                "hovertemplate": "%{x}: %{text} of %{customdata[1]} servers<extra>" + label + "</extra>",
            }
        )
    # Lines across a category axis are shapes (a trace would add numeric categories to the axis).
    shapes = [
        sty.hshape(f"CPU target {cpu_target:.0%}", cpu_target, sty.TARGET),
        sty.hshape("saturation (100%)", 1.0, sty.UNSTABLE, dash="solid"),
    ]
    notes = [
        sty.note(
            f"CPU target {cpu_target:.0%}",
            1.0,
            cpu_target,
            sty.TARGET,
            xref="x domain",
            xanchor="right",
            yanchor="bottom",
        ),
        sty.note("saturation", 1.0, 1.0, sty.UNSTABLE, xref="x domain", xanchor="right", yanchor="bottom"),
    ]
    lay = sty.layout(
        "Utilization of every stage (per worker, at peak)",
        "",
        "utilization",
        barmode="group",
        shapes=shapes,
        annotations=notes,
    )
    lay["yaxis"].update(range=[0.0, _UNSTABLE_BAR + 0.12], tickformat=".0%")
    lay["xaxis"].update(type="category")
    return go.Figure(data=traces, layout=lay)


def _budget_stacks(bars: Sequence[BudgetBar]) -> list[dict[str, Any]]:
    """One bar trace per part of the stack, bottom first; the hover spells out the multiplication."""
    labels = [b.label for b in bars]
    parts = (
        (
            "reserved (not for the app)",
            [b.reserved for b in bars],
            "#c9d3d8",
            ["superuser_reserved_connections" for _ in bars],
        ),
        (
            "pool_size",
            [b.pooled for b in bars],
            sty.RECOMMENDED,
            [f"{b.hosts} hosts x {b.workers_per_host} workers x {b.pool_size}" for b in bars],
        ),
        (
            "max_overflow",
            [b.overflow for b in bars],
            sty.PEAK,
            [f"{b.hosts} hosts x {b.workers_per_host} workers x {b.max_overflow}" for b in bars],
        ),
    )
    return [
        {
            "type": "bar",
            "name": name,
            "x": labels,
            "y": ys,
            "marker": {"color": color},
            "customdata": how,
            "meta": {"kind": "stack", "part": name},
            "hovertemplate": "%{customdata} = %{y} connections<extra>" + name + "</extra>",
        }
        for name, ys, color, how in parts
    ]


def _budget_notes(bars: Sequence[BudgetBar], limit: int) -> list[dict[str, Any]]:
    """The max_connections label and "over budget" above each stack past it."""
    if not bars:
        return []
    limit_note = sty.note(
        f"max_connections {limit}", 1.0, limit, sty.TARGET, xref="x domain", xanchor="right", yanchor="bottom"
    )
    over = [
        {
            "text": "over budget",
            "x": b.label,
            "y": b.reserved + b.total,
            "showarrow": False,
            "yshift": 10,
            "font": {"color": sty.UNSTABLE},
        }
        for b in bars
        if b.over_budget
    ]
    return [limit_note, *over]


def budget_figure_from(bars: Sequence[BudgetBar]) -> go.Figure:
    """Fleet DB connections, stacked (reserved, hosts x workers x pool_size, x max_overflow), against
    max_connections."""
    limit = max((b.max_connections for b in bars), default=0)
    shapes = [sty.hshape(f"max_connections {limit}", limit, sty.TARGET)] if bars else []
    top = max([limit, *(b.reserved + b.total for b in bars)], default=1)
    lay = sty.layout(
        "Fleet DB connections against the server's limit",
        "",
        "connections",
        barmode="stack",
        annotations=_budget_notes(bars, limit),
        shapes=shapes,
    )
    lay["yaxis"]["range"] = [0, top * 1.15]
    lay["xaxis"]["type"] = "category"
    return go.Figure(data=_budget_stacks(bars), layout=lay)


def sensitivity_figure_from(
    grid: Heatmap, *, marks: Mapping[str, tuple[int, int]], target: float | None = None
) -> go.Figure:
    """A heatmap over thread tokens x DB pool size; unstable cells are blank, labelled "unstable".

    `marks[label]` is (tokens, pool) of a deployment to mark.
    """
    xs = [str(t) for t in grid.tokens]
    ys = [str(p) for p in grid.pools]
    p99 = grid.metric == "p99"
    unit = "ms" if p99 else "rps"
    text = [[("unstable" if v is None else f"{v:.0f}") for v in row] for row in grid.values]
    traces: list[dict[str, Any]] = [
        {
            "type": "heatmap",
            "x": xs,
            "y": ys,
            "z": [list(r) for r in grid.values],
            "text": text,
            "texttemplate": "%{text}",
            "textfont": {"size": 11},
            "meta": {"kind": "heatmap", "metric": grid.metric},
            "colorscale": "YlOrRd" if p99 else "Blues",
            "colorbar": {"title": {"text": unit}, "thickness": 12},
            "hovertemplate": "tokens %{x}, DB pool %{y}: %{text} " + unit + "<extra></extra>",
            "showscale": True,
        }
    ]
    if p99 and target is not None:
        # Colour above the target saturates: the interesting boundary is where cells cross it.
        finite = [v for row in grid.values for v in row if v is not None]
        if finite:
            traces[0]["zmin"] = min(finite)
            traces[0]["zmax"] = max(min(max(finite), 2 * target), min(finite) + 1e-9)
    for i, (label, (tok, pool)) in enumerate(marks.items()):
        if str(tok) in xs and str(pool) in ys:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"{label}: {tok} tokens, pool {pool}",
                    "x": [str(tok)],
                    "y": [str(pool)],
                    "meta": {"kind": "mark", "label": label},
                    # An open square frames the cell, so its number stays readable.
                    "marker": {
                        "symbol": "square-open",
                        "size": 30 if label == "recommended" else 24,
                        "color": sty.color_for(label, i),
                        "line": {"width": 3 if label == "recommended" else 2},
                    },
                    "hovertemplate": f"{label}: {tok} tokens, DB pool {pool}<extra></extra>",
                }
            )
    title = "p99 latency at peak (ms)" if p99 else "saturation rate (rps)"
    lay = sty.layout(f"Sensitivity: {title}", "thread tokens per worker", "DB pool size per worker")
    lay["plot_bgcolor"] = "#e6eaec"  # the colour of a blank (unstable) cell
    lay["xaxis"]["type"] = "category"
    lay["yaxis"]["type"] = "category"
    return go.Figure(data=traces, layout=lay)
