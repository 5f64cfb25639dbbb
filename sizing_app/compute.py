"""The app's caches around the services, keyed by scenario JSON text (exact, and cheap to hash).

Numbers are cached with st.cache_data (copied out on every hit, so they are small records). Figures are
cached with st.cache_resource (handed out as the same object, no copy): building a plotly figure costs a
few ms each and st.plotly_chart only reads it. `sj` is the scenario as entered; `rj` the same scenario
with the recommended deployment in place of today's (None when nothing could be sized).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from sizing import Evaluation, Recommendation, Scenario, Stage, figures
from sizing_app import services as svc

_N = 64  # entries per cache: a session explores a few dozen scenarios, and each entry is small


@st.cache_data(max_entries=_N, show_spinner=False)
def evaluate(sj: str) -> Evaluation:
    return svc.evaluate_today(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def recommend(sj: str) -> Recommendation:
    return svc.recommend_for(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def curve(sj: str, label: str, saturation: tuple[float, str]) -> figures.LatencyCurve:
    return svc.curve_for(sj, label, saturation)


@st.cache_data(max_entries=_N, show_spinner=False)
def sweeps(sj: str) -> list[figures.WaitSweep]:
    return svc.sweeps_for(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def heatmap(sj: str, metric: str) -> figures.Heatmap:
    return svc.heatmap_for(sj, metric)


@st.cache_data(max_entries=_N, show_spinner=False)
def blocking(sj: str) -> figures.BlockingSweep:
    return svc.blocking_for(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def stages(sj: str) -> list[Stage]:
    return svc.stages_for(sj)


def _scenario(sj: str) -> Scenario:
    return Scenario.model_validate_json(sj)


def _curves(sj: str, rj: str | None, today: Evaluation, rec: Recommendation) -> list[figures.LatencyCurve]:
    out = [curve(sj, "today", (today.max_rps, today.bottleneck))]
    if rj is not None and rec.evaluation is not None:
        out.append(curve(rj, "recommended", (rec.evaluation.max_rps, rec.evaluation.bottleneck)))
    return out


def _marks(sj: str, rj: str | None) -> dict[str, dict[str, int]]:
    return {
        label: {"thread_tokens": d.thread_tokens, "db_pool_size": d.db_pool_size}
        for label, d in svc.marks(_scenario(sj), rj).items()
    }


@st.cache_resource(max_entries=_N, show_spinner=False)
def latency_figure(
    sj: str,
    rj: str | None,
    _today: Evaluation,
    _rec: Recommendation,
    measured: tuple[figures.PointEstimate, ...] = (),
    simulated: tuple[figures.PointEstimate, ...] = (),
) -> go.Figure:
    # _today and _rec are not hashed (leading underscore): they are functions of sj, which is.
    s = _scenario(sj)
    return figures.latency_figure_from(
        _curves(sj, rj, _today, _rec),
        slo_ms=s.targets.latency_p99_ms,
        peak_rps=s.traffic.peak_rps,
        measured=measured,
        simulated=simulated,
    )


@st.cache_resource(max_entries=_N, show_spinner=False)
def wait_figure(sj: str, rj: str | None) -> go.Figure:
    s = _scenario(sj)
    return figures.wait_figure_from(
        sweeps(rj or sj), target_ms=s.targets.max_pool_wait_p99_ms, marks=_marks(sj, rj)
    )


@st.cache_resource(max_entries=_N, show_spinner=False)
def utilization_figure(sj: str, rj: str | None) -> go.Figure:
    by = {"today": stages(sj)}
    if rj is not None:
        by["recommended"] = stages(rj)
    return figures.utilization_figure_from(by, cpu_target=_scenario(sj).targets.max_cpu_utilization)


@st.cache_resource(max_entries=_N, show_spinner=False)
def budget_figure(sj: str, rj: str | None) -> go.Figure:
    return figures.budget_figure_from(figures.budget_bars(svc.marks(_scenario(sj), rj)))


@st.cache_resource(max_entries=_N, show_spinner=False)
def sensitivity_figure(sj: str, rj: str | None, metric: str) -> go.Figure:
    marks = {label: (m["thread_tokens"], m["db_pool_size"]) for label, m in _marks(sj, rj).items()}
    return figures.sensitivity_figure_from(
        heatmap(rj or sj, metric), marks=marks, target=_scenario(sj).targets.latency_p99_ms
    )


@st.cache_resource(max_entries=_N, show_spinner=False)
def blocking_figure(sj: str, rj: str | None) -> go.Figure:
    return figures.blocking_figure_from(blocking(rj or sj), slo_ms=_scenario(sj).targets.latency_p99_ms)


def chart_numbers(sj: str, rj: str | None, today: Evaluation, rec: Recommendation) -> svc.ChartNumbers:
    """The figures' numbers for the report, from the same caches as the page."""
    by = {"today": stages(sj)}
    if rj is not None:
        by["recommended"] = stages(rj)
    return svc.ChartNumbers(
        curves=_curves(sj, rj, today, rec),
        sweeps=sweeps(rj or sj),
        heatmap=heatmap(rj or sj, "p99"),
        blocking=blocking(rj or sj),
        budget=figures.budget_bars(svc.marks(_scenario(sj), rj)),
        stages=by,
    )


def clear() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
