"""The answer: status line, headline metrics, and the tabs of findings, reasons, config and stage details."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from sizing import Evaluation, Finding, Recommendation, Scenario
from sizing.model import SHELL_SNIPPETS, evaluation_markdown
from sizing_app import services as svc

_BADGE = {
    "critical": ":red-badge[critical]",
    "warning": ":orange-badge[warning]",
    "info": ":blue-badge[info]",
}
_ORDER = {"critical": 0, "warning": 1, "info": 2}


def status(scenario: Scenario, today: Evaluation, rec: Recommendation, mode: str) -> None:
    peak = scenario.traffic.peak_rps
    unstable = svc.unstable_summary(today)
    if mode == "Recommend":
        if rec.feasible and rec.evaluation is not None:
            v = {s.name: s.value for s in rec.settings}
            st.success(
                f"Every target is met at the peak of {peak:.4g} rps with {v['hosts']} host(s) x "
                f"{v['workers_per_host']} worker(s), {v['thread_tokens']} thread tokens, a DB pool of "
                f"{v['db_pool_size']} and an HTTP pool of {v['http_max_connections']} per worker."
            )
        else:
            why = " ".join(f.message for f in rec.impossible) or "see the findings"
            st.error(f"No setting meets every target at {peak:.4g} rps: {why}")
        if unstable:
            st.warning(f"Today's settings are {unstable}.")
    elif unstable:
        st.error(f"Today's settings are {unstable}.")
    elif today.meets_targets:
        st.success(
            f"Today's settings meet every target at the peak of {peak:.4g} rps "
            f"(headroom {today.headroom:.2f}x)."
        )
    else:
        n = sum(1 for f in today.findings if f.severity == "critical")
        st.warning(f"Today's settings run at {peak:.4g} rps but miss targets: {n} critical finding(s) below.")


def metrics(scenario: Scenario, today: Evaluation, rec: Recommendation, mode: str) -> None:
    items = svc.headline(scenario, today, rec, "recommend" if mode == "Recommend" else "diagnose")
    note = "vs today" if mode == "Recommend" else "vs recommended"
    for row in (items[:4], items[4:]):
        for col, m in zip(st.columns(len(row)), row, strict=True):
            col.metric(
                m.label,
                m.value,
                m.delta,
                delta_color=m.delta_color,
                help=m.help,
                delta_description=note if m.delta is not None else None,
                border=True,
            )


def _findings_md(findings: Sequence[Finding]) -> str:
    ordered = sorted(findings, key=lambda f: _ORDER.get(f.severity, 3))
    return "\n".join(f"- {_BADGE.get(f.severity, f.severity)} `{f.code}`: {f.message}" for f in ordered)


def tabs(scenario: Scenario, today: Evaluation, rec: Recommendation, mode: str) -> None:
    subject = rec.evaluation if mode == "Recommend" else today
    findings = list(rec.impossible) + (list(subject.findings) if subject is not None else [])
    if mode == "Diagnose":
        findings = list(today.findings)
    t_find, t_why, t_cfg, t_stage = st.tabs(
        [f"Findings ({len(findings)})", "Why these numbers", "Config to paste", "Stage details"]
    )
    with t_find:
        if findings:
            st.markdown(_findings_md(findings))
        else:
            st.markdown("No findings: nothing is wrong or risky at the peak.")
    with t_why:
        st.markdown(
            "| setting | today | recommended | why |\n|---|---|---|---|\n"
            + "\n".join(
                f"| `{s.name}` | {getattr(scenario.deployment, s.name, '')} | **{s.value}** | {s.reason} |"
                for s in rec.settings
            )
        )
    with t_cfg:
        if rec.snippets:
            st.caption("The recommended settings as code; the copy button is at each block's top right.")
            for name, code in rec.snippets.items():
                st.markdown(f"**{name}**")
                st.code(code.rstrip(), language="bash" if name in SHELL_SNIPPETS else "python")
        else:
            st.info("Nothing to paste: no setting meets the targets (see Findings).")
    with t_stage:
        left, right = st.columns(2)
        with left:
            st.markdown("**Today's settings**")
            st.markdown(evaluation_markdown(today, scenario).replace("## Evaluation", "", 1))
        with right:
            st.markdown("**Recommended**")
            if rec.evaluation is not None:
                st.markdown(evaluation_markdown(rec.evaluation, scenario).replace("## Evaluation", "", 1))
            else:
                st.markdown("Nothing was sized (see Findings).")
