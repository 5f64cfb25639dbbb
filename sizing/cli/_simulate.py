"""`python -m sizing simulate FILE|-`: the scenario's worker process simulated request by request."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sizing.cli._common import EXIT_OK, add_format_option, load_scenario, run_guarded

if TYPE_CHECKING:
    from sizing.simulation import SimulationResult

__all__ = ["register", "render_markdown", "render_table"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate one worker request by request (exact tails, with 95%% confidence intervals)",
        description="Simulate one worker process of the scenario at its share of the peak rate. "
        "Exit 0 on a result (read 'stable'), 2 on bad input.",
    )
    p.add_argument("file", metavar="FILE|-", help="scenario JSON file, or - for stdin")
    p.add_argument("--requests", type=int, default=200_000,
                   help="requests simulated in all, warm-up included (default: %(default)s)")
    p.add_argument("--replications", type=int, default=5, help="independent runs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random streams (default: %(default)s)")
    p.add_argument("--warmup", type=float, default=0.1, dest="warmup_fraction",
                   help="fraction of each run discarded (default: %(default)s)")
    p.add_argument("--max-seconds", type=float, default=60.0, dest="max_wall_seconds",
                   help="wall-clock cap; the result says truncated when hit (default: %(default)s)")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_simulate, a))


def _simulate(args: argparse.Namespace) -> int:
    from sizing.simulation import simulate

    scenario = load_scenario(args.file)
    result = simulate(
        scenario,
        requests=args.requests,
        replications=args.replications,
        seed=args.seed,
        warmup_fraction=args.warmup_fraction,
        max_wall_seconds=args.max_wall_seconds,
    )
    if args.format == "json":
        text = result.model_dump_json(indent=2)
    elif args.format == "markdown":
        text = render_markdown(result)
    else:
        text = render_table(result)
    sys.stdout.write(text + "\n")
    return EXIT_OK


def _num(x: float | None, hw: float | None = None) -> str:
    if x is None:
        return "unbounded"
    s = f"{x:.4g}"
    return s if hw is None else f"{s} ± {hw:.2g}"


def _rows(r: SimulationResult) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    stage_head = ["stage", "servers", "visits/s", "hold ms", "util", "P(wait)", "wait mean ms", "wait p99 ms"]
    stages = []
    for s in r.stages:
        k = f"stages.{s.name}"
        stages.append([
            s.name, str(s.servers), f"{s.arrival_rps:.4g}", f"{s.hold_ms:.4g}", f"{s.utilization:.3f}",
            f"{s.p_wait:.3f}", _num(s.wait_mean_ms, r.ci.get(f"{k}.wait_mean_ms")),
            _num(s.wait_p99_ms, r.ci.get(f"{k}.wait_p99_ms")),
        ])
    lat_head = ["class", "share", "mean ms", "p50 ms", "p95 ms", "p99 ms"]
    lats = []
    for lat in r.latency:
        k = f"latency.{lat.name}"
        lats.append([
            lat.name, f"{lat.share:.3g}", _num(lat.mean_ms, r.ci.get(f"{k}.mean_ms")),
            _num(lat.p50_ms, r.ci.get(f"{k}.p50_ms")), _num(lat.p95_ms, r.ci.get(f"{k}.p95_ms")),
            _num(lat.p99_ms, r.ci.get(f"{k}.p99_ms")),
        ])
    return stage_head, stages, lat_head, lats


def _summary(r: SimulationResult) -> list[str]:
    thr = _num(r.throughput_rps, r.ci.get("throughput_rps"))
    state = "STABLE" if r.stable else "UNSTABLE"
    cut = "; TRUNCATED" if r.truncated else ""
    return [
        f"{state} at {r.rps:g} rps ({r.rps_per_worker:.4g} per worker x {r.workers}); "
        f"measured throughput {thr} rps",
        f"{r.measured_requests} requests measured of {r.requests} simulated, {r.replications} "
        f"replication(s), seed {r.seed}, {r.wall_seconds:.2f} s "
        f"({r.requests_per_second:,.0f} requests/s){cut}",
        "± is the 95% confidence half-width over the replications.",
    ]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in rows]


def render_table(r: SimulationResult) -> str:
    """Plain-text report for a terminal."""
    sh, st, lh, lt = _rows(r)
    lines = [*_summary(r), "", *_table(sh, st), "", *_table(lh, lt), ""]
    return "\n".join(lines + [f"note: {n}" for n in r.notes])


def render_markdown(r: SimulationResult) -> str:
    """GitHub-flavoured markdown report."""
    sh, st, lh, lt = _rows(r)

    def md(head: list[str], rows: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
            "| " + " | ".join(row) + " |" for row in rows
        ]

    lines = ["## Simulation", "", *[f"- {s}" for s in _summary(r)], "", *md(sh, st), "", *md(lh, lt), ""]
    return "\n".join(lines + [f"- {n}" for n in r.notes])
