"""What the app computes, keyed by JSON text so a UI cache can key on it cheaply and exactly.

Each function takes the scenario (and a deployment) as JSON: hashing a short string is cheaper and more
predictable than hashing a model, and the JSON is the scenario's public format, so equal text means an
equal scenario. Nothing here imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from sizing.figures import (
    BlockingSweep,
    BudgetBar,
    Heatmap,
    LatencyCurve,
    WaitSweep,
    blocking_sweep,
    budget_bars,
    count_grid,
    latency_curve,
    sensitivity_grid,
    sweep_values,
    wait_sweep,
)
from sizing.model import Evaluation, Recommendation, Stage, evaluate, recommend, stages_at
from sizing.scenario import Deployment, InputError, Scenario, error_lines
from sizing_app.services._inputs import label_for

__all__ = [
    "RESOLUTION",
    "ChartNumbers",
    "Metric",
    "Mode",
    "Resolution",
    "blocking_for",
    "chart_numbers",
    "curve_for",
    "evaluate_today",
    "headline",
    "heatmap_for",
    "marks",
    "problem_lines",
    "recommend_for",
    "recommended_for",
    "stages_for",
    "sweeps_for",
    "unstable_summary",
]

Mode = Literal["recommend", "diagnose"]
# Chart resolutions: modest, because every point is a model call and every widget change reruns the page.
@dataclass(slots=True)
class Resolution:
    """How finely the charts sample (a test lowers these to run the same code paths faster)."""

    curve_points: int = 25  # rates on each latency curve
    sweep_points: int = 12  # pool sizes on each wait sweep
    grid_size: int = 6  # tokens x pool sizes on the sensitivity heatmap
    blocking_points: int = 9  # blocking durations


RESOLUTION = Resolution()


def _s(scenario_json: str) -> Scenario:
    return Scenario.model_validate_json(scenario_json)


def evaluate_today(scenario_json: str) -> Evaluation:
    return evaluate(_s(scenario_json))


def recommend_for(scenario_json: str) -> Recommendation:
    return recommend(_s(scenario_json))


def recommended_for(scenario_json: str, recommendation: Recommendation) -> str | None:
    """The scenario with the recommended deployment in place of today's, as JSON (the key of every chart
    number about the recommendation), or None when nothing was sized."""
    s = _s(scenario_json)
    dep = recommendation.deployment_for(s)
    return None if dep is None else s.model_copy(update={"deployment": dep}).model_dump_json()


# Each chart's numbers are keyed by the one scenario (deployment included) they depend on, so changing
# today's settings leaves the recommendation's numbers cached, and the other way round.


def curve_for(scenario_json: str, label: str, saturation: tuple[float, str] | None = None) -> LatencyCurve:
    s = _s(scenario_json)
    return latency_curve(s, s.deployment, label=label, saturation=saturation, points=RESOLUTION.curve_points)


def sweeps_for(scenario_json: str) -> list[WaitSweep]:
    """p99 wait against tokens and against DB pool, the other settings as in the scenario's deployment."""
    s = _s(scenario_json)
    d = s.deployment
    return [
        wait_sweep(s, d, "thread_tokens", sweep_values(d.thread_tokens, count=RESOLUTION.sweep_points)),
        wait_sweep(s, d, "db_pool_size", sweep_values(d.db_pool_size, count=RESOLUTION.sweep_points)),
    ]


def heatmap_for(scenario_json: str, metric: str = "p99") -> Heatmap:
    s = _s(scenario_json)
    d = s.deployment
    tokens, pools = count_grid(d.thread_tokens, n=RESOLUTION.grid_size), count_grid(d.db_pool_size, n=RESOLUTION.grid_size)
    return sensitivity_grid(s, d, tokens, pools, metric)


def blocking_for(scenario_json: str) -> BlockingSweep:
    s = _s(scenario_json)
    return blocking_sweep(s, s.deployment, points=RESOLUTION.blocking_points)


def stages_for(scenario_json: str) -> list[Stage]:
    s = _s(scenario_json)
    return stages_at(s, s.traffic.peak_rps, s.deployment)


def marks(scenario: Scenario, rec_json: str | None) -> dict[str, Deployment]:
    """The deployments to mark on the charts: today's, and the recommendation when there is one."""
    out = {"today": scenario.deployment}
    if rec_json is not None:
        out["recommended"] = _s(rec_json).deployment
    return out


@dataclass(frozen=True, slots=True)
class ChartNumbers:
    """Every figure's numbers, for the Markdown report."""

    curves: list[LatencyCurve]
    sweeps: list[WaitSweep]
    heatmap: Heatmap | None
    blocking: BlockingSweep
    budget: list[BudgetBar]
    stages: dict[str, list[Stage]]


def chart_numbers(
    scenario_json: str,
    rec_json: str | None,
    today: Evaluation,
    rec: Recommendation,
) -> ChartNumbers:
    """Every figure's numbers (computed the way the app does, so a report matches the page)."""
    s = _s(scenario_json)
    base = rec_json or scenario_json
    curves = [curve_for(scenario_json, "today", (today.max_rps, today.bottleneck))]
    stages = {"today": stages_for(scenario_json)}
    if rec_json is not None and rec.evaluation is not None:
        curves.append(curve_for(rec_json, "recommended", (rec.evaluation.max_rps, rec.evaluation.bottleneck)))
        stages["recommended"] = stages_for(rec_json)
    return ChartNumbers(
        curves=curves,
        sweeps=sweeps_for(base),
        heatmap=heatmap_for(base),
        blocking=blocking_for(base),
        budget=budget_bars(marks(s, rec_json)),
        stages=stages,
    )


def problem_lines(exc: BaseException) -> list[str]:
    """What to tell the user about an exception, one line each, never a traceback.

    Input problems (InputError, pydantic's ValidationError, the model's ValueError, which names the field)
    are shown as they are; anything else is a bug, reported by type only.
    """
    if isinstance(exc, InputError):
        return exc.lines
    if isinstance(exc, ValidationError):
        return error_lines(exc, label_for(()))
    if isinstance(exc, ValueError | OverflowError | ZeroDivisionError):
        text = str(exc).strip() or type(exc).__name__
        return [text.splitlines()[0]]
    return [
        f"internal error ({type(exc).__name__}): the model could not evaluate this scenario; "
        "please report it with the scenario JSON (sidebar: Export)"
    ]


def unstable_summary(ev: Evaluation) -> str | None:
    """One sentence naming the unstable stage(s) and the rate, or None when every stage is stable."""
    if ev.stable:
        return None
    from sizing.figures import STAGE_LABELS

    bad = [s for s in ev.stages if not s.stable]
    names = ", ".join(f"{STAGE_LABELS.get(s.name, s.name)} (utilization {_util(s.utilization)})" for s in bad)
    return (
        f"unstable at {ev.rps:.4g} rps: {names} past saturation, so its queue grows without bound; "
        f"these settings saturate at {ev.max_rps:.4g} rps (bottleneck: "
        f"{STAGE_LABELS.get(ev.bottleneck, ev.bottleneck)})"
    )


def _util(u: float) -> str:
    return "unbounded" if not math.isfinite(u) else f"{u:.2f}"


@dataclass(frozen=True, slots=True)
class Metric:
    label: str
    value: str
    delta: str | None
    delta_color: Literal["normal", "inverse", "off"]
    help: str


def _count_delta(a: int | None, b: int | None) -> str | None:
    if a is None or b is None or a == b:
        return None if a is None or b is None else "0"
    return f"{a - b:+d}"


def headline(scenario: Scenario, today: Evaluation, rec: Recommendation, mode: Mode) -> list[Metric]:
    """The eight headline numbers. Recommend mode shows the recommendation with its change from today;
    Diagnose mode shows today's settings with their difference from the recommendation."""
    dep = scenario.deployment
    rdep = rec.deployment_for(scenario)
    rev = rec.evaluation
    show_rec = mode == "recommend"
    other = "vs today" if show_rec else "vs recommended"

    def pair(name: str) -> tuple[int | None, int | None]:
        t = int(getattr(dep, name))
        r = None if rdep is None else int(getattr(rdep, name))
        return (r, t) if show_rec else (t, r)

    out = []
    for label, name, help_ in (
        ("Hosts", "hosts", "Machines or pods"),
        ("Workers per host", "workers_per_host", "uvicorn --workers on each host"),
        ("Thread tokens", "thread_tokens", "AnyIO total_tokens per worker"),
        ("DB pool", "db_pool_size", "pool_size per worker (max_overflow 0 when recommended)"),
        ("HTTP pool", "http_max_connections", "httpx max_connections per worker"),
    ):
        shown, base = pair(name)
        out.append(
            Metric(label, "—" if shown is None else str(shown), _count_delta(shown, base), "off", help_)
        )

    ev_shown, ev_base = (rev, today) if show_rec else (today, rev)
    p99 = None if ev_shown is None else ev_shown.overall.p99_ms
    p99_base = None if ev_base is None else ev_base.overall.p99_ms
    if ev_shown is None:
        p99_text = "—"
    elif p99 is None:
        p99_text = "unstable"
    else:
        p99_text = f"{p99:.0f} ms"
    p99_delta = f"{p99 - p99_base:+.0f} ms" if p99 is not None and p99_base is not None else None
    out.append(
        Metric(
            "Predicted p99",
            p99_text,
            p99_delta,
            "inverse",
            f"Overall p99 latency at the peak ({scenario.traffic.peak_rps:.4g} rps); target "
            f"{scenario.targets.latency_p99_ms:g} ms",
        )
    )
    for label, attr, unit, digits, help_ in (
        ("Max rps", "max_rps", "", ".4g", "Whole-service rate at which the first stage saturates"),
        ("Headroom", "headroom", "x", ".2f", "Max rps / peak rps: below 1x the peak is past saturation"),
    ):
        value = None if ev_shown is None else getattr(ev_shown, attr)
        base = None if ev_base is None else getattr(ev_base, attr)
        delta = f"{value - base:+{digits}}{unit}" if value is not None and base is not None else None
        out.append(Metric(label, "—" if value is None else f"{value:{digits}}{unit}", delta, "normal", help_))
    return [
        m if m.delta is None else Metric(m.label, m.value, m.delta, m.delta_color, f"{m.help} ({other})")
        for m in out
    ]
