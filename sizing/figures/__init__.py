"""Plotly figures of a scenario: pure functions (no Streamlit), usable from a notebook.

Each `*_figure(scenario, recommended=None)` computes its numbers with the model and draws them;
`recommended` is a Deployment, e.g. `recommend(s).deployment_for(s)`. Needs the `figures` extra
(plotly); `import sizing` loads this package only when a figure is asked for.

Figures of a scenario
    latency_curve_figure, wait_sweep_figure, utilization_figure, db_budget_figure, sensitivity_figure,
    blocking_figure, simulation_figure, simulated_point, PointEstimate
The two halves, for a UI that caches the numbers and draws them when asked
    numbers: latency_curve, latency_curves, wait_sweep, sweep_values, count_grid, sensitivity_grid,
    blocking_sweep, budget_bars, deployments_of, and their records LatencyCurve, WaitSweep, Heatmap,
    BlockingSweep, BudgetBar;
    drawers: latency_figure_from, wait_figure_from, utilization_figure_from, budget_figure_from,
    sensitivity_figure_from, blocking_figure_from; STAGE_LABELS (a stage's name on a chart)
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from sizing._base import publish
from sizing.figures._capacity import (
    budget_figure_from,
    sensitivity_figure_from,
    utilization_figure_from,
    wait_figure_from,
)
from sizing.figures._curves import blocking_figure_from, latency_figure_from
from sizing.figures._data import (
    BlockingSweep,
    BudgetBar,
    Heatmap,
    LatencyCurve,
    PointEstimate,
    WaitSweep,
    blocking_sweep,
    budget_bars,
    count_grid,
    latency_curve,
    latency_curves,
    sensitivity_grid,
    sweep_values,
    wait_sweep,
)
from sizing.figures._simulation import simulated_point, simulation_figure
from sizing.figures._style import STAGE_LABELS
from sizing.model import stages_at
from sizing.scenario import Deployment, Scenario

__all__ = [
    "STAGE_LABELS",
    "BlockingSweep",
    "BudgetBar",
    "Heatmap",
    "LatencyCurve",
    "PointEstimate",
    "WaitSweep",
    "blocking_figure",
    "blocking_figure_from",
    "blocking_sweep",
    "budget_bars",
    "budget_figure_from",
    "count_grid",
    "db_budget_figure",
    "deployments_of",
    "latency_curve",
    "latency_curve_figure",
    "latency_curves",
    "latency_figure_from",
    "sensitivity_figure",
    "sensitivity_figure_from",
    "sensitivity_grid",
    "simulated_point",
    "simulation_figure",
    "sweep_values",
    "utilization_figure",
    "utilization_figure_from",
    "wait_figure_from",
    "wait_sweep",
    "wait_sweep_figure",
]


def deployments_of(scenario: Scenario, recommended: Deployment | None) -> dict[str, Deployment]:
    """{"today": ..., "recommended": ...}, the second only when there is one."""
    out = {"today": scenario.deployment}
    if recommended is not None:
        out["recommended"] = recommended
    return out


def latency_curve_figure(
    scenario: Scenario,
    recommended: Deployment | None = None,
    *,
    measured: Sequence[PointEstimate] = (),
    simulated: Sequence[PointEstimate] = (),
    points: int = 25,
) -> go.Figure:
    """Mean and p99 latency against request rate for today's settings and the recommendation, with the
    p99 target, the peak rate and each saturation rate; measured or simulated points overlaid."""
    curves = latency_curves(scenario, deployments_of(scenario, recommended), points=points)
    return latency_figure_from(
        curves,
        slo_ms=scenario.targets.latency_p99_ms,
        peak_rps=scenario.traffic.peak_rps,
        measured=measured,
        simulated=simulated,
    )


def _marks(scenario: Scenario, recommended: Deployment | None) -> dict[str, dict[str, int]]:
    return {
        label: {"thread_tokens": d.thread_tokens, "db_pool_size": d.db_pool_size}
        for label, d in deployments_of(scenario, recommended).items()
    }


def wait_sweep_figure(scenario: Scenario, recommended: Deployment | None = None) -> go.Figure:
    """p99 wait at the peak against thread tokens and against DB pool size (the other settings as
    recommended, or as today when there is no recommendation), both values marked."""
    base = recommended or scenario.deployment
    marks = _marks(scenario, recommended)
    sweeps = [
        wait_sweep(scenario, base, field, sweep_values(getattr(base, field)))
        for field in ("thread_tokens", "db_pool_size")
    ]
    return wait_figure_from(sweeps, target_ms=scenario.targets.max_pool_wait_p99_ms, marks=marks)


def utilization_figure(scenario: Scenario, recommended: Deployment | None = None) -> go.Figure:
    """Utilization of every stage at the peak, today against the recommendation."""
    peak = scenario.traffic.peak_rps
    stages = {
        label: stages_at(scenario, peak, d) for label, d in deployments_of(scenario, recommended).items()
    }
    return utilization_figure_from(stages, cpu_target=scenario.targets.max_cpu_utilization)


def db_budget_figure(scenario: Scenario, recommended: Deployment | None = None) -> go.Figure:
    """hosts x workers x (pool_size + max_overflow) stacked against the server's max_connections."""
    return budget_figure_from(budget_bars(deployments_of(scenario, recommended)))


def sensitivity_figure(
    scenario: Scenario, recommended: Deployment | None = None, *, metric: str = "p99"
) -> go.Figure:
    """A 6x6 heatmap over thread tokens x DB pool size around the recommendation: p99 at peak or max rps."""
    base = recommended or scenario.deployment
    tokens = count_grid(base.thread_tokens)
    pools = count_grid(base.db_pool_size)
    grid = sensitivity_grid(scenario, base, tokens, pools, metric)
    marks = {
        label: (d.thread_tokens, d.db_pool_size) for label, d in deployments_of(scenario, recommended).items()
    }
    return sensitivity_figure_from(grid, marks=marks, target=scenario.targets.latency_p99_ms)


def blocking_figure(
    scenario: Scenario, deployment: Deployment | None = None, *, points: int = 9
) -> go.Figure:
    """Latency at the peak as a blocking call inside every `async def` handler grows (default: today's
    deployment)."""
    sweep = blocking_sweep(scenario, deployment or scenario.deployment, points=points)
    return blocking_figure_from(sweep, slo_ms=scenario.targets.latency_p99_ms)


publish(__name__, globals(), __all__)
