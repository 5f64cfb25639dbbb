"""The validation report as a table or markdown: one row per point, measured against both predictions."""

from __future__ import annotations

from sizing.validation._report import PointReport, Predicted, ValidationReport, rel_err

__all__ = ["render"]

_LEGEND = (
    "times in ms; err = (predicted - measured) / measured; shed/s = 503s from admission control past "
    "capacity; burn x = the server's CPU control factor on the planned burns; tok.u = sampled "
    "borrowed/total tokens; hold = "
    "token hold per pass (Little's law); cpu = server cores per worker; ms/req = server CPU per request; "
    "queue = sampled tasks waiting for a token; other = cores used by other processes during the point; "
    "steal = cores the hypervisor took from this VM during the point; "
    "rq.w = ms per request our server's and generators' threads waited for a CPU; ±mean, p99 ci = the "
    "long-run mean (half-width) and p99 this point's measurement allows, 95%: from simulated runs as long as "
    "the point (its own requests' batch means where there are none); "
    "full gc = the server's generation-2 collections during the point, count x longest pause (ms)"
)


def _f(x: float | None, nd: int = 1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _e(x: float | None) -> str:
    return "-" if x is None else f"{x:+.0%}"


def _ranges(p: PointReport) -> tuple[str, str]:
    """The long-run mean's half-width and p99 range this point's measurement allows (see band_range)."""
    m, w = p.measured, p.window
    if w is not None and m.mean_ms is not None and m.p99_ms is not None:
        mean_lo, mean_hi = m.mean_ms / w.mean_ratio[1], m.mean_ms / w.mean_ratio[0]
        return (
            f"{(mean_hi - mean_lo) / 2:.1f}",
            f"{m.p99_ms / w.p99_ratio[1]:.1f}-{m.p99_ms / w.p99_ratio[0]:.1f}",
        )
    p99 = "-" if m.p99_ci_ms is None else f"{m.p99_ci_ms[0]:.1f}-{m.p99_ci_ms[1]:.1f}"
    return _f(m.mean_ci_ms), p99


_HEAD = [
    "point", "rps", "done/s", "shed/s", "burn x", "tok.u", "hold", "cpu", "ms/req", "queue", "mean", "p50",
    "p95", "p99",
    "±mean", "p99 ci", "model mean", "err", "p99", "err", "max_rps", "sim mean", "err", "p99", "err",
    "other", "steal", "rq.w", "full gc", "verdict",
]  # fmt: skip


def _usable(pred: Predicted | None) -> Predicted | None:
    return None if pred is None or pred.error else pred


def _verdicts(p: PointReport) -> str:
    shown = [f"{k}: {v}" for k, v in p.verdicts.items() if not (v.status == "not_compared" and v.detail == "no prediction")]
    return "; ".join(shown) or "not compared: no prediction"


def _row(p: PointReport) -> list[str]:
    m, mo, si = p.measured, _usable(p.model), _usable(p.simulator)
    return [
        p.label,
        _f(m.offered_rps, 0),
        _f(m.achieved_rps, 0),
        _f(m.shed / m.window_s if m.window_s > 0 else None, 0),
        _f(m.burn_factor, 2),
        _f(m.token_utilization, 2),
        _f(m.token_hold_ms, 1),
        _f(m.server_cpu, 2),
        _f(m.cpu_per_request_ms, 2),
        _f(m.tasks_waiting_mean, 1),
        _f(m.mean_ms),
        _f(m.p50_ms),
        _f(m.p95_ms),
        _f(m.p99_ms),
        *_ranges(p),
        _f(mo.mean_ms if mo else None),
        _e(rel_err(mo.mean_ms, m.mean_ms) if mo else None),
        _f(mo.p99_ms if mo else None),
        _e(rel_err(mo.p99_ms, m.p99_ms) if mo else None),
        _f(mo.max_rps if mo else None, 0),
        _f(si.mean_ms if si else None),
        _e(rel_err(si.mean_ms, m.mean_ms) if si else None),
        _f(si.p99_ms if si else None),
        _e(rel_err(si.p99_ms, m.p99_ms) if si else None),
        f"{m.other_cpu:.2f}",
        f"{m.steal:.2f}",
        f"{m.runqueue_wait_ms_per_request:.3f}",
        "-" if m.gc_full_pauses is None else f"{m.gc_full_pauses} x {_f(m.gc_full_pause_max_ms, 0)}",
        _verdicts(p),
    ]


_POOL_HEAD = ["point", "pool", "in use", "waiting", "wait", "hold", "asked", "failed", "pg_stat_activity", "process CPU"]


def _backend_line(report: ValidationReport) -> str:
    """What stood behind the server, for a real backend; '' for the emulated one."""
    b = report.backend
    if b.get("kind", "emulated") == "emulated":
        return ""
    speed = ", ".join(f"{k}={v}" for k, v in b.get("settings", {}).items() if v == "off")
    steps = ", ".join(
        f"{kind} +{v['hold_ms']:.2f} ms held, {v['cpu_ms']:.2f} ms driver CPU"
        for kind, v in report.calibration.db_step.items()
    )
    return (
        f"backend: PostgreSQL {b.get('postgres_version', '?')} ({b.get('server', '?')}), pool {b.get('db_pool', '?')}, "
        f"max_connections {b.get('max_connections', '?')}" + (f", for speed only: {speed}" if speed else "")
        + (f"; one DB step with nothing else running: {steps}" if steps else "")
    )


def _pool_rows(p: PointReport) -> list[list[str]]:
    """One row per pool; the point's failures, pg_stat_activity and process CPU on its first row."""
    m = p.measured
    per_point = [
        ", ".join(f"{k} {v}" for k, v in sorted(m.failures.items())) or "0",
        ", ".join(f"{k} {v:.1f}" for k, v in m.db_activity.items()) or "-",
        ", ".join(f"{k} {v:.2f}" for k, v in m.process_cpu.items()) or "-",
    ]
    rows = []
    for k, (name, pool) in enumerate(sorted(m.pools.items())):
        stats = [_f(pool.get(key), 2) for key in ("in_use_mean", "waiting_mean", "wait_ms", "hold_ms", "asked_ms")]
        first = k == 0
        rows.append([p.label if first else "", name, *stats, *(per_point if first else ["", "", ""])])
    return rows


_POOL_LEGEND = (
    "pools per point: in use and waiting are time averages, wait and hold ms per step, asked = what the step "
    "asked of the database or upstream; failed = requests that failed, by cause; pg_stat_activity = the "
    "server's connections by state (sampled); process CPU in cores"
)


def _md_table(head: list[str], rows: list[list[str]], text_columns: set[int]) -> list[str]:
    """A Markdown table; the columns in `text_columns` are left-aligned, the others right-aligned."""
    align = "|".join("---" if i in text_columns else "--:" for i in range(len(head)))
    return ["| " + " | ".join(head) + " |", f"|{align}|", *("| " + " | ".join(r) + " |" for r in rows)]


def _pools_markdown(rows: list[list[str]]) -> str:
    lines = [_POOL_LEGEND, "", *_md_table(_POOL_HEAD, rows, {0, 1, 7, 8, 9})]
    return "\n".join(lines) + "\n"


def _pools_plain(rows: list[list[str]]) -> str:
    widths = [max(len(_POOL_HEAD[i]), *(len(r[i]) for r in rows)) for i in range(len(_POOL_HEAD))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [_POOL_HEAD, *rows]]
    return "\n".join(out) + "\n"


def _preamble(report: ValidationReport) -> tuple[str, str]:
    cal = report.calibration
    dep = report.scenario.get("deployment", {})
    title = (
        f"{report.name}: {dep.get('workers_per_host', 1)} worker(s), {dep.get('thread_tokens', 40)} tokens; "
        f"points are fractions of the {report.reference_stage} capacity {report.reference_rps:.0f} rps"
    )
    calib = (
        f"calibration: client overhead {cal.overhead_ms:.2f} ms (added to predictions), token hand-off "
        f"{_f(cal.handoff_ms_saturation, 2)} ms at saturation / {_f(cal.handoff_ms_gap, 2)} ms gap "
        f"(predictions use {cal.handoff_ms_model:.2f}), framework CPU "
        + ", ".join(f"{k} {v:.2f}" for k, v in cal.framework_cpu_ms.items())
        + f" ms, generator ceiling {_f(cal.generator_ceiling_rps, 0)} rps"
    )
    backend = _backend_line(report)
    pinned = report.machine.get("pinned")
    if pinned:
        backend += ("; " if backend else "") + (
            f"pinned: the server on CPUs {pinned['server']}, everything else on {pinned['others']}"
        )
    return title, calib + (f"\n{backend}" if backend else "")


def _markdown(title: str, calib: str, rows: list[list[str]]) -> str:
    lines = [f"**{title}**", "", calib, "", _LEGEND, "", *_md_table(_HEAD, rows, {0, len(_HEAD) - 1})]
    return "\n".join(lines) + "\n"


def _plain(title: str, calib: str, rows: list[list[str]]) -> str:
    widths = [max(len(_HEAD[i]), *(len(r[i]) for r in rows)) if rows else len(_HEAD[i]) for i in range(len(_HEAD) - 1)]

    def line(cells: list[str]) -> str:
        body = "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        )
        return body + "  " + cells[-1]

    lines = [title, calib, _LEGEND, line(_HEAD)]
    lines.extend(line(r) for r in rows)
    return "\n".join(lines) + "\n"


def render(report: ValidationReport, *, markdown: bool) -> str:
    """One row per point: what was measured, both predictions with their errors, and the verdicts."""
    title, calib = _preamble(report)
    rows = [_row(p) for p in report.points]
    pool_rows = [r for p in report.points for r in _pool_rows(p)]
    if markdown:
        return _markdown(title, calib, rows) + (f"\n{_pools_markdown(pool_rows)}" if pool_rows else "")
    return _plain(title, calib, rows) + (_pools_plain(pool_rows) if pool_rows else "")
