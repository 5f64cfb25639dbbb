"""'Check with simulation': run the discrete-event simulator on the scenario the page is showing and put
its percentiles next to the model's (histogram here, points on the latency chart).

Results are kept in a small process-wide store keyed by the scenario JSON, the request count and the seed,
so a rerun, another tab or another participant opening the same link gets them at once. st.cache_data
cannot hold them: the progress bar is updated from inside the run, and a cached function may not draw
into a container made outside it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from sizing import Latency, Scenario, SimulationResult, simulate
from sizing.figures import PointEstimate, simulated_point, simulation_figure
from sizing_app import services as svc
from sizing_app.guard import guarded

REQUESTS = {"50,000 (about 2 s)": 50_000, "200,000": 200_000, "1,000,000 (precise tails)": 1_000_000}
_DEFAULT = "200,000"
_REPLICATIONS = 5
_MAX_WALL_S = 60.0
_KEEP = 16

_lock = threading.Lock()
_store: OrderedDict[tuple[str, int, int], SimulationResult] = OrderedDict()


def _get(key: tuple[str, int, int]) -> SimulationResult | None:
    with _lock:
        res = _store.get(key)
        if res is not None:
            _store.move_to_end(key)
        return res


def _put(key: tuple[str, int, int], res: SimulationResult) -> None:
    with _lock:
        _store[key] = res
        while len(_store) > _KEEP:
            _store.popitem(last=False)


def clear() -> None:
    with _lock:
        _store.clear()


def _key(sj: str) -> tuple[str, int, int]:
    label = st.session_state.get("sim_requests", _DEFAULT)
    return sj, REQUESTS.get(str(label), REQUESTS[_DEFAULT]), int(st.session_state.get("sim_seed", 0))


def points(sj: str) -> list[PointEstimate]:
    """The simulated point for the latency chart, if this scenario has been simulated."""
    res = _get(_key(sj))
    return [] if res is None or not res.stable else [simulated_point(res)]


def _table(res: SimulationResult, analytic: Latency | None) -> str:
    o = res.overall
    rows = ["| | mean | p50 | p95 | p99 |", "|---|---|---|---|---|"]

    def cell(v: float | None, half: float | None = None) -> str:
        if v is None:
            return "unbounded"
        return f"{v:.1f} ± {half:.1f} ms" if half is not None else f"{v:.1f} ms"

    attrs = ("mean_ms", "p50_ms", "p95_ms", "p99_ms")
    rows.append(
        "| simulated (95% CI) | "
        + " | ".join(cell(getattr(o, a), res.ci.get(f"latency.overall.{a}")) for a in attrs)
        + " |"
    )
    if analytic is not None:
        rows.append("| model | " + " | ".join(cell(getattr(analytic, a)) for a in attrs) + " |")
    return "\n".join(rows)


@st.fragment
@guarded
def panel(sj: str, analytic: Latency | None, what: str) -> None:
    # A fragment: choosing the size or pressing Run reruns this panel only; the page reruns once, at the
    # end, so the latency chart picks up the simulated points.
    st.subheader("Check with simulation")
    st.caption(
        f"Simulates one worker of {what}, request by request, at its share of the peak rate "
        f"({_REPLICATIONS} replications), and compares with the model."
    )
    left, mid, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    left.selectbox(
        "Requests to simulate", list(REQUESTS), index=list(REQUESTS).index(_DEFAULT), key="sim_requests"
    )
    mid.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="sim_seed")
    run = right.button("Run simulation", key="sim_run", type="primary", icon=":material/play_arrow:")
    key = _key(sj)
    res = _get(key)
    if run and res is None:
        bar = st.progress(0.0, text="Simulating…")

        def progress(fraction: float) -> bool:
            f = min(max(float(fraction), 0.0), 1.0)
            bar.progress(f, text=f"Simulating… {f:.0%}")
            return True

        try:
            res = simulate(
                Scenario.model_validate_json(sj),
                requests=key[1],
                replications=_REPLICATIONS,
                seed=key[2],
                max_wall_seconds=_MAX_WALL_S,
                progress=progress,
            )
        except Exception as exc:
            bar.empty()
            st.error("The simulation could not run: " + "; ".join(svc.problem_lines(exc)))
            return
        bar.empty()
        _put(key, res)
        st.rerun()
    if res is None:
        st.caption("Not run yet for these inputs.")
        return
    if not res.stable:
        st.warning("The simulated worker is unstable too: its backlog grows without bound at this rate.")
    if res.truncated:
        st.warning(f"Stopped early (after {res.wall_seconds:.0f} s): the confidence intervals are wider.")
    st.plotly_chart(
        simulation_figure(res, analytic), key="fig_simulation", width="stretch", config={"displaylogo": False}
    )
    st.markdown(_table(res, analytic))
    st.caption(
        f"{res.measured_requests:,} requests measured in {res.wall_seconds:.1f} s. " + " ".join(res.notes)
    )
