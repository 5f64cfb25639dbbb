"""Shared look of the figures: a calm palette matching .streamlit/config.toml, small fixed heights."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

TODAY = "#8a9aa6"
RECOMMENDED = "#2f6f8f"
TARGET = "#c0392b"
PEAK = "#d4880f"
SATURATION = "#5b4b8a"
MEASURED = "#1b9e77"
SIMULATED = "#d95f02"
UNSTABLE = "#b03a2e"
GRID = "#e3e8ea"

COLORS = {"today": TODAY, "recommended": RECOMMENDED}
HEIGHT = 340

STAGE_LABELS = {
    "thread_tokens": "thread tokens",
    "db_pool": "DB pool",
    "http_pool": "HTTP pool",
    "cpu": "CPU (GIL)",
    "event_loop": "event loop",
}


def color_for(label: str, index: int) -> str:
    return COLORS.get(label, (RECOMMENDED, TODAY, SATURATION, PEAK)[index % 4])


def layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    """A plain layout dict (building from dicts is several times faster than add_hline and friends)."""
    base: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 15}},
        "height": HEIGHT,
        "margin": {"l": 55, "r": 20, "t": 45, "b": 90},
        "xaxis": {"title": {"text": x_title}, "gridcolor": GRID, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "gridcolor": GRID, "zeroline": False},
        "legend": {"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "font": {"size": 11}},
        "hovermode": "closest",
    }
    base.update(extra)
    return base


def empty_figure(lay: dict[str, Any], message: str) -> go.Figure:
    """No data to draw: the bare axes with `message` in the middle, so the chart says why it is blank."""
    centered = {"text": message, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5, "showarrow": False}
    return go.Figure(data=[], layout={**lay, "annotations": [centered]})


def hline(name: str, y: float, x0: float, x1: float, color: str, **extra: Any) -> dict[str, Any]:
    """A horizontal reference line as a trace (hover text; labelled with `note`, not in the legend)."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [x0, x1],
        "y": [y, y],
        "line": {"color": color, "dash": "dash", "width": 1.5},
        "hovertemplate": f"{name}<extra></extra>",
        "showlegend": False,
        **extra,
    }


def vline(
    name: str, x: float, y0: float, y1: float, color: str, dash: str = "dot", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [x, x],
        "y": [y0, y1],
        "line": {"color": color, "dash": dash, "width": 1.5},
        "hovertemplate": f"{name}<extra></extra>",
        "showlegend": False,
        **extra,
    }


def hshape(
    name: str, y: float, color: str, *, xref: str = "x", yref: str = "y", dash: str = "dash"
) -> dict[str, Any]:
    """A horizontal line across a whole (category) axis: a shape spans the axis' domain, a trace cannot."""
    return {
        "type": "line",
        "name": name,
        "xref": f"{xref} domain",
        "x0": 0,
        "x1": 1,
        "yref": yref,
        "y0": y,
        "y1": y,
        "line": {"color": color, "dash": dash, "width": 1.5},
    }


def note(
    text: str, x: float | str, y: float, color: str, *, xref: str = "x", yref: str = "y", **extra: Any
) -> dict[str, Any]:
    """A small label next to a reference line, in the line's colour."""
    return {
        "text": text,
        "x": x,
        "y": y,
        "xref": xref,
        "yref": yref,
        "showarrow": False,
        "font": {"size": 10, "color": color},
        "bgcolor": "rgba(251,251,248,0.8)",
        **extra,
    }


def y_top(values: list[float], reference: float, *, cap_factor: float = 3.0) -> float:
    """Upper end of the y axis: the largest finite value, but at most cap_factor x the reference line, and
    always above the reference (a knee shooting to infinity must not flatten everything else)."""
    finite = [v for v in values if v == v and v not in (float("inf"), float("-inf"))]
    top = max(finite, default=reference)
    if reference > 0:
        top = min(top, cap_factor * reference)
        top = max(top, 1.25 * reference)
    return top * 1.05 if top > 0 else 1.0
