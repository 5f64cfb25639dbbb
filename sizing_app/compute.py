"""The app's caches around the services: keyed by the scenario's JSON text (exact and cheap to hash).

Numbers are cached with st.cache_data (copied out on every hit, so they are small records). Figures are
cached with st.cache_resource (handed out as the same object, no copy): building a plotly figure costs a
few ms each, and st.plotly_chart only reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st

from sizing import _appservice as svc
from sizing._figures import _capacity as cap
from sizing._figures import _curves as cur
from sizing._figures._data import (
    BlockingSweep,
    Heatmap,
    LatencyCurve,
    PointEstimate,
    WaitSweep,
    budget_bars,
)
from sizing._figures import deployments_of
from sizing._results import Evaluation, Recommendation, Stage
from sizing._scenario import Deployment, Scenario

_N = 64  # entries per cache: a session explores a few dozen scenarios; memory stays small


@st.cache_data(max_entries=_N, show_spinner=False)
def evaluate(sj: str) -> Evaluation:
    return svc.evaluate_today(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def recommend(sj: str) -> Recommendation:
    return svc.recommend_for(sj)


@st.cache_data(max_entries=_N, show_spinner=False)
def curves(sj: str, rj: str | None) -> list[LatencyCurve]:
    return svc.curves_for(sj, rj)


@st.cache_data(max_entries=_N, show_spinner=False)
def sweeps(sj: str, rj: str | None) -> list[WaitSweep]:
    return svc.sweeps_for(sj, rj)


@st.cache_data(max_entries=_N, show_spinner=False)
def heatmap(sj: str, rj: str | None, metric: str) -> Heatmap:
    return svc.heatmap_for(sj, rj, metric)


@st.cache_data(max_entries=_N, show_spinner=False)
def blocking(sj: str, rj: str | None) -> BlockingSweep:
    return svc.blocking_for(sj, rj)


@st.cache_data(max_entries=_N, show_spinner=False)
def stages(sj: str, rj: str | None) -> dict[str, list[Stage]]:
    return svc.stages_for(sj, rj)


def _dep(rj: str | None) -> Deployment | None:
    return None if rj is None else Deployment.model_validate_json(rj)


def _marks(s: Scenario, rj: str | None) -> dict[str, dict[str, int]]:
    return {label: {"thread_tokens": d.thread_tokens, "db_pool_size": d.db_pool_size}
            for label, d in deployments_of(s, _dep(rj)).items()}


@st.cache_resource(max_entries=_N, show_spinner=False)
def latency_figure(sj: str, rj: str | None, measured: Sequence[PointEstimate] = (),
                   simulated: Sequence[PointEstimate] = ()) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    return cur.latency_figure_from(curves(sj, rj), slo_ms=s.targets.latency_p99_ms, peak_rps=s.traffic.peak_rps,
                                   measured=measured, simulated=simulated)


@st.cache_resource(max_entries=_N, show_spinner=False)
def wait_figure(sj: str, rj: str | None) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    return cap.wait_figure_from(sweeps(sj, rj), target_ms=s.targets.max_pool_wait_p99_ms, marks=_marks(s, rj))


@st.cache_resource(max_entries=_N, show_spinner=False)
def utilization_figure(sj: str, rj: str | None) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    return cap.utilization_figure_from(stages(sj, rj), cpu_target=s.targets.max_cpu_utilization)


@st.cache_resource(max_entries=_N, show_spinner=False)
def budget_figure(sj: str, rj: str | None) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    return cap.budget_figure_from(budget_bars(deployments_of(s, _dep(rj))))


@st.cache_resource(max_entries=_N, show_spinner=False)
def sensitivity_figure(sj: str, rj: str | None, metric: str) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    marks = {label: (m["thread_tokens"], m["db_pool_size"]) for label, m in _marks(s, rj).items()}
    return cap.sensitivity_figure_from(heatmap(sj, rj, metric), marks=marks, target=s.targets.latency_p99_ms)


@st.cache_resource(max_entries=_N, show_spinner=False)
def blocking_figure(sj: str, rj: str | None) -> go.Figure:
    s = Scenario.model_validate_json(sj)
    return cur.blocking_figure_from(blocking(sj, rj), slo_ms=s.targets.latency_p99_ms)


def chart_numbers(sj: str, rj: str | None) -> svc.ChartNumbers:
    s = Scenario.model_validate_json(sj)
    return svc.ChartNumbers(curves=curves(sj, rj), sweeps=sweeps(sj, rj), heatmap=heatmap(sj, rj, "p99"),
                            blocking=blocking(sj, rj), budget=budget_bars(deployments_of(s, _dep(rj))),
                            stages=stages(sj, rj))


def clear() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()
