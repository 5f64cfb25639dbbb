"""The six figures, two per row; each is drawn by a pure function in sizing.figures and cached."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from sizing import Evaluation, Recommendation
from sizing.figures import PointEstimate
from sizing_app import compute
from sizing_app.guard import guarded

HEAT_METRICS = {"p99 at peak (ms)": "p99", "max rps": "max_rps"}
_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def _plot(fig: object, key: str) -> None:
    st.plotly_chart(fig, key=key, config=_CONFIG, width="stretch")


@st.fragment
@guarded
def _sensitivity(sj: str, rj: str | None) -> None:
    # A fragment: switching the colour metric recomputes this panel only, not the page.
    choice = st.segmented_control(
        "Heatmap colour",
        list(HEAT_METRICS),
        default="p99 at peak (ms)",
        key="heat",
        bind="query-params",
        label_visibility="collapsed",
    )
    metric = HEAT_METRICS.get(str(choice), "p99")
    _plot(compute.sensitivity_figure(sj, rj, metric), "fig_sensitivity")


def grid(
    sj: str,
    rj: str | None,
    today: Evaluation,
    rec: Recommendation,
    measured: Sequence[PointEstimate] = (),
    simulated: Sequence[PointEstimate] = (),
) -> None:
    a, b = st.columns(2)
    with a:
        _plot(compute.latency_figure(sj, rj, today, rec, tuple(measured), tuple(simulated)), "fig_latency")
    with b:
        _plot(compute.utilization_figure(sj, rj), "fig_utilization")
    a, b = st.columns(2)
    with a:
        _plot(compute.wait_figure(sj, rj), "fig_waits")
    with b:
        _sensitivity(sj, rj)
    a, b = st.columns(2)
    with a:
        _plot(compute.budget_figure(sj, rj), "fig_budget")
    with b:
        _plot(compute.blocking_figure(sj, rj), "fig_blocking")
