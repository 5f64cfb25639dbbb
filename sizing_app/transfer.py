"""Sidebar section to move a session in and out: scenario JSON, measured points, the Markdown report."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from sizing import InputError, Scenario
from sizing.figures import PointEstimate
from sizing_app import services as svc
from sizing_app import state as ss

MEASURED_FILE = "measured_file"


def imports() -> list[PointEstimate]:
    """Upload widgets (drawn whether or not the inputs are valid, so a bad session can be replaced)."""
    with st.sidebar.expander("Import", expanded=False):
        st.file_uploader(
            "Scenario JSON",
            type=["json"],
            key=ss.IMPORT_FILE,
            on_change=ss.apply_import,
            help="A scenario saved with Export (or written for `python -m sizing`); at most 1 MB. "
            "It replaces every input.",
        )
        for line in st.session_state.get(ss.IMPORT_PROBLEMS, []):
            st.error(line)
        upload = st.file_uploader(
            "Measured points (validation results JSON)",
            type=["json"],
            key=MEASURED_FILE,
            help="The --out file of `python -m sizing validate`: measured latency at "
            "several rates, drawn over the latency curve.",
        )
        if upload is None:
            return []
        try:
            points = svc.measured_points(upload.getvalue())
        except InputError as exc:
            for line in exc.lines:
                st.error(line)
            return []
        st.caption(f"{len(points)} measured point(s) drawn on the latency chart.")
        return points


def exports(scenario: Scenario, report: Callable[[], str]) -> None:
    with st.sidebar.expander("Export", expanded=True):
        st.download_button(
            "Scenario JSON",
            data=lambda: svc.scenario_to_json(scenario),
            file_name="scenario.json",
            mime="application/json",
            on_click="ignore",
            icon=":material/download:",
            key="export_json",
            help="Load it again with Import, or run `python -m sizing` on it.",
        )
        st.download_button(
            "Report (Markdown)",
            data=report,
            file_name="sizing-report.md",
            mime="text/markdown",
            on_click="ignore",
            icon=":material/description:",
            key="export_report",
            help="Inputs, recommendation, findings and every figure's numbers.",
        )
        st.caption("The page's link (address bar) also reproduces this session.")
