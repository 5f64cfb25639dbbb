"""Plain-text and Markdown renderings of evaluations and recommendations (CLI and app downloads)."""

from __future__ import annotations

from collections.abc import Sequence

from sizing.model._results import Evaluation, Recommendation
from sizing.scenario._models import Scenario

__all__ = ["evaluation_markdown", "evaluation_table", "recommendation_markdown", "recommendation_table"]


def _ms(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:.1f}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r) for r in rows]
    return "\n".join(out)


def _stage_rows(ev: Evaluation) -> list[list[str]]:
    return [
        [
            s.name,
            str(s.servers),
            f"{s.arrival_rps:.4g}",
            f"{s.hold_ms:.2f}",
            f"{s.utilization:.3f}",
            f"{s.p_wait:.3g}",
            _ms(s.wait_mean_ms),
            _ms(s.wait_p99_ms),
        ]
        for s in ev.stages
    ]


def _latency_rows(ev: Evaluation) -> list[list[str]]:
    return [
        [row.name, f"{row.share:.3g}", _ms(row.mean_ms), _ms(row.p50_ms), _ms(row.p95_ms), _ms(row.p99_ms)]
        for row in ev.latency
    ]


_STAGE_HEADER = [
    "stage (per worker)",
    "servers",
    "visits/s",
    "hold ms",
    "utilization",
    "P(wait)",
    "wait mean ms",
    "wait p99 ms",
]
_LATENCY_HEADER = ["class", "share", "mean ms", "p50 ms", "p95 ms", "p99 ms"]


def _summary(ev: Evaluation, scenario: Scenario | None) -> list[str]:
    target = f" (target {scenario.targets.latency_p99_ms:g} ms)" if scenario else ""
    slo = "none" if ev.slo_rps is None else f"{ev.slo_rps:.4g} rps"
    return [
        f"rate evaluated: {ev.rps:.4g} rps ({ev.rps_per_worker:.4g} per worker); stable: {ev.stable}",
        f"p99 overall: {_ms(ev.overall.p99_ms)} ms{target}; meets targets: {ev.meets_targets}",
        f"saturation: {ev.max_rps:.4g} rps, bottleneck {ev.bottleneck}; headroom {ev.headroom:.2f}x; "
        f"p99 target holds up to: {slo}",
        f"CPU per worker {ev.cpu_utilization_worker:.0%}, per host {ev.cpu_utilization_host:.0%}; "
        f"fleet DB connections {ev.fleet_db_connections} of {ev.db_connection_budget}",
    ]


def evaluation_table(ev: Evaluation, scenario: Scenario | None = None) -> str:
    parts = [
        *_summary(ev, scenario),
        "",
        _grid(_STAGE_HEADER, _stage_rows(ev), False),
        "",
        _grid(_LATENCY_HEADER, _latency_rows(ev), False),
    ]
    if ev.findings:
        parts += ["", "findings:"] + [f"  [{f.severity}] {f.code}: {f.message}" for f in ev.findings]
    return "\n".join(parts)


def evaluation_markdown(ev: Evaluation, scenario: Scenario | None = None) -> str:
    parts = [
        "## Evaluation",
        "",
        *(f"- {line}" for line in _summary(ev, scenario)),
        "",
        "### Stages",
        "",
        _grid(_STAGE_HEADER, _stage_rows(ev), True),
        "",
        "### Latency",
        "",
        _grid(_LATENCY_HEADER, _latency_rows(ev), True),
    ]
    if ev.findings:
        parts += ["", "### Findings", ""] + [
            f"- **{f.severity}** `{f.code}`: {f.message}" for f in ev.findings
        ]
    return "\n".join(parts)


def recommendation_table(rec: Recommendation) -> str:
    head = "feasible: every target met at peak" if rec.feasible else "NOT FEASIBLE: see below"
    parts = [
        head,
        "",
        _grid(["setting", "value", "why"], [[s.name, str(s.value), s.reason] for s in rec.settings], False),
    ]
    for f in rec.impossible:
        parts.append(f"[{f.severity}] {f.code}: {f.message}")
    if rec.evaluation is not None:
        parts += ["", evaluation_table(rec.evaluation)]
    if rec.snippets:
        for name, code in rec.snippets.items():
            parts += ["", f"--- {name} ---", code.rstrip()]
    return "\n".join(parts)


def recommendation_markdown(rec: Recommendation) -> str:
    head = "Every target is met at peak." if rec.feasible else "**Not feasible**: see below."
    parts = [
        "## Recommendation",
        "",
        head,
        "",
        _grid(["setting", "value", "why"], [[s.name, str(s.value), s.reason] for s in rec.settings], True),
    ]
    if rec.impossible:
        parts += ["", *(f"- **{f.severity}** `{f.code}`: {f.message}" for f in rec.impossible)]
    if rec.evaluation is not None:
        parts += ["", evaluation_markdown(rec.evaluation)]
    for name, code in rec.snippets.items():
        lang = "bash" if name in ("uvicorn", "gunicorn") else "python"
        parts += ["", f"### {name}", "", f"```{lang}", code.rstrip(), "```"]
    return "\n".join(parts)
