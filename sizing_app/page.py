"""The page: sidebar inputs -> scenario -> cached model calls -> status, metrics, figures, tabs.

Everything runs inside `guarded` (sizing_app.guard), so invalid input or a model failure becomes an
st.error naming the field, never a traceback on the page.
"""

from __future__ import annotations

import streamlit as st

from sizing import PRESETS, Scenario, preset
from sizing_app import charts, compute, results, sidebar, simulation, transfer
from sizing_app import services as svc
from sizing_app.guard import guarded


def _caption(scenario: Scenario) -> str:
    t = scenario.traffic
    same = next((name for name in PRESETS if preset(name) == scenario), None)
    shape = f"the {same!r} preset" if same else "a custom scenario"
    d = scenario.deployment
    return (
        f"Peak {t.peak_rps:.4g} rps ({t.rps:.4g} rps x {t.peak_factor:g}) over {len(scenario.endpoints)} "
        f"request class(es), {d.hosts} host(s) x {d.workers_per_host} worker(s) today; {shape}."
    )


@guarded
def _page() -> None:
    inputs = sidebar.render()
    measured = transfer.imports()
    st.title("FastAPI sizing")
    form: svc.Form = "short" if inputs.form == "Short" else "expert"
    scenario = svc.scenario_from_inputs(inputs.values, inputs.rows, form)
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
    simulated = simulation.points(sim_sj)
    charts.grid(sj, rj, today, rec, measured, simulated)
    results.tabs(scenario, today, rec, inputs.mode)
    simulation.panel(sim_sj, subject.overall if subject is not None else None, sim_what)
    mode: svc.Mode = "recommend" if inputs.mode == "Recommend" else "diagnose"

    def report() -> str:
        # Built on click, outside the script run: a failure must still deliver a readable file.
        try:
            return svc.markdown_report(
                scenario,
                mode=mode,
                today=today,
                recommendation=rec,
                numbers=compute.chart_numbers(sj, rj, today, rec),
                measured=measured,
                simulated=simulated,
            )
        except Exception as exc:
            return "# FastAPI sizing report\n\nThe report could not be built:\n\n" + "\n".join(
                f"- {line}" for line in svc.problem_lines(exc)
            )

    transfer.exports(scenario, report)


def main() -> None:
    st.set_page_config(page_title="FastAPI sizing", page_icon="⚙️", layout="wide")
    _page()
