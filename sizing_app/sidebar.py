"""The sidebar: mode, preset, form, the grouped inputs, and import/export. Returns what the user entered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from sizing import PRESETS
from sizing_app import state as ss
from sizing_app.services import ENDPOINT_COLUMNS, FIELDS, Column, Field

_GROUPS = (
    ("traffic", "Traffic", "How much load, and how bursty."),
    ("endpoints", "Endpoints", "What a request does inside a worker."),
    ("deployment", "Deployment (today's settings)", "What runs today; Diagnose evaluates exactly this."),
    ("targets", "Targets", "What must hold at the peak rate."),
    ("runtime", "Runtime", "Calibrated constants of the FastAPI runtime."),
)


@dataclass(frozen=True, slots=True)
class Inputs:
    mode: str
    form: str
    values: dict[str, Any]
    rows: list[dict[str, Any]]


def _number(f: Field) -> None:
    default = ss.DEFAULTS[f.key]
    if f.integer:
        st.number_input(
            f.title,
            min_value=int(f.low),
            max_value=int(f.high),
            value=int(default),
            step=1,
            key=f.key,
            help=f.help,
            bind="query-params",
        )
    else:
        st.number_input(
            f.title,
            min_value=float(f.low),
            max_value=float(f.high),
            value=float(default),
            step=float(f.step),
            format="%g",
            key=f.key,
            help=f.help,
            bind="query-params",
        )


def _column(c: Column) -> Any:
    cc = st.column_config
    if c.kind == "text":
        return cc.TextColumn(c.label, help=c.help, required=c.required, max_chars=80)
    if c.kind == "handler":
        return cc.SelectboxColumn(c.label, help=c.help, options=["sync", "async"], required=True)
    if c.kind == "bool":
        return cc.CheckboxColumn(c.label, help=c.help, default=False)
    if c.kind == "scope":
        return cc.SelectboxColumn(c.label, help=c.help, options=["pass", "request"], default="pass")
    step = 1 if c.kind == "int" else None
    return cc.NumberColumn(
        c.label,
        help=c.help,
        min_value=c.low,
        max_value=c.high,
        step=step,
        required=c.required,
        format="%g" if c.kind == "float" else "%d",
    )


_COLUMN_CONFIG = {c.name: _column(c) for c in ENDPOINT_COLUMNS}


def _endpoint_editor() -> list[dict[str, Any]]:
    st.caption("One row per kind of request; add or delete rows at the table's edge. Shares add up to 1.")
    names = [c.name for c in ENDPOINT_COLUMNS]
    # Every row carries every column, in order, so the table's columns do not depend on the first row.
    base = [{n: row.get(n) for n in names} for row in st.session_state[ss.ROWS]]
    edited = st.data_editor(
        base,
        key=ss.editor_key(),
        num_rows="dynamic",
        hide_index=True,
        column_config=_COLUMN_CONFIG,
        width="stretch",
    )
    return [dict(r) for r in edited]


def _group(group: str, title: str, note: str, form: str) -> list[dict[str, Any]] | None:
    short = form == "Short"
    fields = [f for f in FIELDS if f.group == group and (f.short if short else f.path is not None)]
    rows = None
    if not fields and not (group == "endpoints" and not short):
        return None
    with st.expander(title, expanded=group in ("traffic", "deployment", "endpoints") or short):
        st.caption(note)
        for f in fields:
            _number(f)
        if group == "endpoints" and not short:
            rows = _endpoint_editor()
    return rows


def render() -> Inputs:
    ss.init()
    with st.sidebar:
        st.header("Scenario")
        mode = st.radio(
            "Mode",
            ss.MODES,
            key=ss.MODE,
            horizontal=True,
            bind="query-params",
            help="Recommend: the settings to use. Diagnose: what today's settings do.",
        )
        st.selectbox(
            "Start from a preset",
            list(PRESETS),
            index=None,
            key=ss.PRESET,
            placeholder="choose a common service shape",
            on_change=ss.apply_preset,
            help="Replaces every input with the preset's (the link then carries the changes).",
        )
        form = st.radio(
            "Form",
            ss.FORMS,
            key=ss.FORM,
            horizontal=True,
            bind="query-params",
            on_change=ss.switch_form,
            help="Short: five numbers, everything else at FastAPI's defaults. Expert: every field "
            "and the full list of request classes.",
        )
        rows = list(st.session_state.get(ss.ROWS, ss.DEFAULT_ROWS))
        for group, title, note in _GROUPS:
            got = _group(group, title, note, form)
            if got is not None:
                rows = got
        st.session_state["edited_rows_snapshot"] = rows
        for line in st.session_state.get(ss.URL_PROBLEMS, []):
            st.warning(f"Link: {line}; the default endpoints are shown instead.")
    ss.sync_url(rows, form)
    return Inputs(mode=str(mode), form=str(form), values=ss.current_values(), rows=rows)
