"""The page: sidebar inputs -> scenario -> cached model calls -> status, metrics, figures, tabs.

Every model call and figure runs inside `main`'s one guard, so invalid input or a model failure becomes an
st.error naming the field, never a traceback on the page.
"""

from __future__ import annotations

import streamlit as st

from sizing import _appservice as svc
from sizing._presets import PRESETS, preset
from sizing._scenario import Scenario
from sizing_app import charts, compute, results, sidebar, simulation, transfer


def _caption(scenario: Scenario) -> str:
    t = scenario.traffic
    same = next((name for name in PRESETS if preset(name) == scenario), None)
    shape = f"the {same!r} preset" if same else "a custom scenario"
    return (
        f"Peak {t.peak_rps:.4g} rps ({t.rps:.4g} rps x {t.peak_factor:g}) over {len(scenario.endpoints)} "
        f"request class(es), {scenario.deployment.hosts} host(s) x {scenario.deployment.workers_per_host} "
        f"worker(s) today; {shape}."
    )


def _show_problem(exc: BaseException) -> None:
    st.error("Check the inputs:\n\n" + "\n".join(f"- {line}" for line in svc.problem_lines(exc)), icon="⚠️")


def main() -> None:
    st.set_page_config(page_title="FastAPI sizing", page_icon="⚙️", layout="wide")
    inputs = sidebar.render()
    measured = transfer.imports()
    st.title("FastAPI sizing")
    try:
        scenario = svc.scenario_from_inputs(
            inputs.values, inputs.rows, "short" if inputs.form == "Short" else "expert"
        )
        sj = scenario.model_dump_json()
        today = compute.evaluate(sj)
        rec = compute.recommend(sj)
        rj = svc.recommended_for(sj, rec)
        st.caption(_caption(scenario))
        results.status(scenario, today, rec, inputs.mode)
        results.metrics(scenario, today, rec, inputs.mode)
        # Simulate what the page is about: the recommendation in Recommend mode, today's settings otherwise.
        sim_sj = rj if inputs.mode == "Recommend" and rj is not None else sj
        sim_what = "the recommended settings" if sim_sj == rj else "today's settings"
        subject = rec.evaluation if sim_sj == rj else today
        charts.grid(sj, rj, today, rec, measured, simulation.points(sim_sj))
        results.tabs(scenario, today, rec, inputs.mode)
        simulation.panel(sim_sj, subject.overall if subject is not None else None, sim_what)
    except Exception as exc:
        _show_problem(exc)
        return
    mode: svc.Mode = "recommend" if inputs.mode == "Recommend" else "diagnose"

    def report() -> str:
        return svc.markdown_report(
            scenario,
            mode=mode,
            today=today,
            recommendation=rec,
            numbers=compute.chart_numbers(sj, rj, today, rec),
            measured=measured,
            simulated=simulation.points(sim_sj),
        )

    transfer.exports(scenario, report)
