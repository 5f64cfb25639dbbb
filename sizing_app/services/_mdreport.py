"""The Markdown report of a planning session: inputs, recommendation, findings, the figures' numbers."""

from __future__ import annotations

from collections.abc import Sequence

from sizing.figures import STAGE_LABELS, PointEstimate
from sizing.model import Evaluation, Recommendation, evaluation_markdown, recommendation_markdown
from sizing.scenario import Scenario
from sizing_app.services._analysis import ChartNumbers, Mode, unstable_summary
from sizing_app.services._fields import ENDPOINT_COLUMNS, FIELDS
from sizing_app.services._inputs import values_from_scenario

__all__ = ["markdown_report"]


def _ms(v: float | None) -> str:
    return "unstable" if v is None else f"{v:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v).replace("|", "\\|")


def _inputs(scenario: Scenario) -> list[str]:
    values = values_from_scenario(scenario)
    rows = [[f.label, _cell(values[f.key]), f.unit] for f in FIELDS if f.path is not None]
    eps = [[_cell(getattr(e, c.name)) for c in ENDPOINT_COLUMNS] for e in scenario.endpoints]
    return [
        "## Inputs",
        "",
        *_table(["input", "value", "unit"], rows),
        "",
        "### Request classes",
        "",
        *_table([c.label for c in ENDPOINT_COLUMNS], eps),
        "",
        "<details><summary>Scenario JSON (load it with the app's Import, or `python -m sizing`)</summary>",
        "",
        "```json",
        scenario.model_dump_json(indent=2),
        "```",
        "",
        "</details>",
    ]


def _numbers(n: ChartNumbers) -> list[str]:
    out = ["## The figures' numbers", "", "### Latency against request rate", ""]
    for c in n.curves:
        out += [
            f"**{c.label}**: saturates at {c.saturation_rps:.4g} rps "
            f"({STAGE_LABELS.get(c.bottleneck, c.bottleneck)}).",
            "",
        ]
        out += _table(
            ["rps", "mean ms", "p99 ms"],
            [[f"{r:.4g}", _ms(m), _ms(p)] for r, m, p in zip(c.rates, c.mean_ms, c.p99_ms, strict=True)],
        )
        out.append("")
    out += ["### p99 wait against pool size (at peak)", ""]
    for sw in n.sweeps:
        out += [f"**{sw.field}** ({STAGE_LABELS[sw.stage]}{'' if sw.used else ', unused'}):", ""]
        out += _table(
            [sw.field, "p99 wait ms"],
            [[str(v), _ms(w)] for v, w in zip(sw.values, sw.wait_p99_ms, strict=True)],
        )
        out.append("")
    out += ["### Utilization of every stage (per worker, at peak)", ""]
    labels = list(n.stages)
    names = [s.name for s in next(iter(n.stages.values()), [])]
    rows = []
    for name in names:
        cells = [STAGE_LABELS.get(name, name)]
        for label in labels:
            st = next(s for s in n.stages[label] if s.name == name)
            cells.append(f"{st.utilization:.0%} of {st.servers}" if st.stable else "unstable")
        rows.append(cells)
    out += [*_table(["stage", *labels], rows), ""]
    out += ["### Fleet DB connections", ""]
    out += _table(
        ["deployment", "hosts x workers x (pool + overflow)", "total", "server limit", "over budget"],
        [
            [
                b.label,
                f"{b.hosts} x {b.workers_per_host} x ({b.pool_size} + {b.max_overflow})",
                str(b.total),
                f"{b.max_connections} - {b.reserved} reserved",
                "yes" if b.over_budget else "no",
            ]
            for b in n.budget
        ],
    )
    out.append("")
    if n.heatmap is not None:
        h = n.heatmap
        unit = "p99 ms at peak" if h.metric == "p99" else "max rps"
        out += [f"### Sensitivity ({unit}; rows DB pool, columns thread tokens)", ""]
        out += _table(
            ["pool \\ tokens", *map(str, h.tokens)],
            [[str(p), *(_ms(v) for v in row)] for p, row in zip(h.pools, h.values, strict=True)],
        )
        out.append("")
    b = n.blocking
    out += ["### A blocking call inside async def (at peak)", ""]
    if b.durations_ms:
        sat = "" if b.saturation_ms is None else f" The event loop saturates at {b.saturation_ms:.3g} ms."
        out += [f"Share of async requests: {b.async_share:.2f}.{sat}", ""]
        out += _table(
            ["blocking ms", "mean ms", "p99 ms", "loop utilization"],
            [
                [f"{d:.3g}", _ms(m), _ms(p), f"{u:.0%}"]
                for d, m, p, u in zip(b.durations_ms, b.mean_ms, b.p99_ms, b.loop_utilization, strict=True)
            ],
        )
    else:
        out.append("No `async def` class in this scenario.")
    out.append("")
    return out


def _overlay(title: str, points: Sequence[PointEstimate]) -> list[str]:
    if not points:
        return []
    return [
        f"### {title}",
        "",
        *_table(
            ["rps", "mean ms", "p50 ms", "p95 ms", "p99 ms"],
            [
                [
                    f"{p.rps:.4g}",
                    *(_ms(v) if v is not None else "" for v in (p.mean_ms, p.p50_ms, p.p95_ms, p.p99_ms)),
                ]
                for p in points
            ],
        ),
        "",
    ]


def markdown_report(
    scenario: Scenario,
    *,
    mode: Mode,
    today: Evaluation,
    recommendation: Recommendation,
    numbers: ChartNumbers | None = None,
    measured: Sequence[PointEstimate] = (),
    simulated: Sequence[PointEstimate] = (),
) -> str:
    """The whole session as one Markdown document (deterministic: no dates, no host names)."""
    peak = scenario.traffic.peak_rps
    lines = [
        "# FastAPI sizing report",
        "",
        f"Made with the fastapi-sizing app in {mode} mode. Peak {peak:.4g} rps "
        f"({scenario.traffic.rps:.4g} rps x {scenario.traffic.peak_factor:g}); p99 target "
        f"{scenario.targets.latency_p99_ms:g} ms.",
        "",
    ]
    lines += [*_inputs(scenario), ""]
    lines += [recommendation_markdown(recommendation), ""]
    lines += ["## Today's settings", ""]
    note = unstable_summary(today)
    if note:
        lines += [f"**Today's settings are {note}.**", ""]
    lines += [evaluation_markdown(today, scenario).replace("## Evaluation", "### Evaluation", 1), ""]
    if numbers is not None:
        lines += _numbers(numbers)
    lines += _overlay("Measured (validation results)", measured)
    lines += _overlay("Simulated", simulated)
    return "\n".join(lines).rstrip() + "\n"
