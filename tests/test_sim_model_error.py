"""How far the analytic model (`sizing.evaluate`) is from the simulator, over a grid and on the presets.

Grid: one `def` endpoint whose body waits on I/O (50 ms, cv2 0..4, lognormal as in the lifecycle) behind
8 thread tokens, with 1..3 token passes (short passes: `def` dependencies before the body, response validation after it),
at token utilization
0.3..0.95. Errors are (model - simulation) / simulation. The quick grid runs in the suite and prints its
table (pytest -s); the full grid writes tests/data/sim_vs_model.md with its provenance:

    SIZING_SIM_GRID=full python -m pytest tests/test_sim_model_error.py -s --timeout=0

The quick grid asserts the bands the model states: mean latency within 10%, p99 within 20% for I/O cv2 <= 1
up to utilization 0.8, presets within 5%. Heavy tails near saturation (cv2 >= 2, utilization >= 0.85) are
where the model's p99 is low by 10-30%: the full table shows it, and evaluate() says so in a finding.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sizing.model import evaluate
from sizing.scenario import PRESETS, Deployment, Endpoint, Scenario, Traffic, preset
from sizing.simulation import SimulationResult, simulate

FULL = os.environ.get("SIZING_SIM_GRID") == "full"
RHOS = (0.3, 0.5, 0.7, 0.85, 0.95) if FULL else (0.5, 0.8)
CV2S = (0.0, 0.5, 1.0, 2.0, 4.0) if FULL else (0.0, 1.0)
# (label, def dependencies, response_model): short passes before the body, and one after it.
_ALL_PASSES = (
    ("1 pass", 0, False),
    ("2 passes (dependency)", 1, False),
    ("3 passes (2 dependencies)", 2, False),
    ("2 passes (response model)", 0, True),
    ("3 passes (dependency + response model)", 1, True),
)
PASSES = _ALL_PASSES if FULL else (_ALL_PASSES[0], _ALL_PASSES[2], _ALL_PASSES[4])
TOKENS, IO_MS, CPU_MS = 8, 50.0, 0.2
SEED = 20261125
OUT = Path(__file__).parent / "data" / "sim_vs_model.md"
FLAG = 0.10  # |p99 error| above this is flagged


def grid_scenario(rho: float, cv2: float, deps: int, response_model: bool = False) -> Scenario:
    passes = 1 + deps + int(response_model)
    ep = Endpoint(name="def", share=1.0, handler="sync", cpu_ms=CPU_MS, other_io_ms=IO_MS, other_io_cv2=cv2,
                  sync_dependencies=deps, response_model=response_model)
    handoff = 0.4
    hold = IO_MS + passes * (handoff + CPU_MS / (1 + passes))  # token-ms per request, no waits inside
    return Scenario(traffic=Traffic(rps=rho * TOKENS / hold * 1000.0), endpoints=[ep],
                    deployment=Deployment(thread_tokens=TOKENS))


def requests_for(rho: float) -> int:
    # Near saturation the estimates converge slowly (autocorrelated waits): spend more requests there.
    base = 120_000 if FULL else 25_000
    return base * (4 if rho >= 0.9 else 2 if rho >= 0.8 else 1)


@dataclass(frozen=True)
class Row:
    label: str
    rho_model: float
    sim: SimulationResult
    model_p99: float | None
    model_mean: float | None
    model_wait: float | None
    model_wait_p99: float | None

    def err(self, model: float | None, sim: float | None) -> float | None:
        if model is None or sim is None or sim <= 0:
            return None
        return (model - sim) / sim

    @property
    def p99_err(self) -> float | None:
        return self.err(self.model_p99, self.sim.overall.p99_ms)

    @property
    def mean_err(self) -> float | None:
        return self.err(self.model_mean, self.sim.overall.mean_ms)


def compare(label: str, scenario: Scenario, requests: int) -> Row:
    ev = evaluate(scenario)
    sim = simulate(scenario, requests=requests, replications=6, seed=SEED, max_wall_seconds=300)
    tokens = ev.stage("thread_tokens")
    assert tokens is not None
    return Row(label, tokens.utilization, sim, ev.overall.p99_ms, ev.overall.mean_ms, tokens.wait_mean_ms,
               tokens.wait_p99_ms)


def _f(x: float | None, hw: float | None = None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if hw is None else f"{x:.4g} ± {hw:.2g}"


def _pct(x: float | None) -> str:
    if x is None:
        return "-"
    flag = " **!**" if abs(x) > FLAG else ""
    return f"{x:+.1%}{flag}"


def table(rows: list[Row]) -> str:
    head = ["scenario", "token util (model)", "sim p99 ms", "model p99 ms", "p99 err", "sim mean ms",
            "model mean ms", "mean err", "sim token wait ms", "model token wait ms", "sim token wait p99",
            "model token wait p99"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s, ci = r.sim, r.sim.ci
        tok = s.stage("thread_tokens")
        assert tok is not None
        out.append("| " + " | ".join([
            r.label, f"{r.rho_model:.3f}", _f(s.overall.p99_ms, ci.get("latency.overall.p99_ms")),
            _f(r.model_p99), _pct(r.p99_err), _f(s.overall.mean_ms, ci.get("latency.overall.mean_ms")),
            _f(r.model_mean), _pct(r.mean_err),
            _f(tok.wait_mean_ms, ci.get("stages.thread_tokens.wait_mean_ms")), _f(r.model_wait),
            _f(tok.wait_p99_ms, ci.get("stages.thread_tokens.wait_p99_ms")), _f(r.model_wait_p99),
        ]) + " |")
    return "\n".join(out)


def _presets() -> list[tuple[str, Scenario]]:
    return [(f"preset: {name}", preset(name)) for name in sorted(PRESETS)]


def test_model_against_simulation() -> None:
    rows = []
    for rho in RHOS:
        for cv2 in CV2S:
            for name, deps, rm in PASSES:
                label = f"rho {rho:g}, io cv2 {cv2:g}, {name}"
                rows.append(compare(label, grid_scenario(rho, cv2, deps, rm), requests_for(rho)))
    for label, sc in _presets():
        if evaluate(sc).stable:
            rows.append(compare(label, sc, requests_for(0.9)))
    text = table(rows)
    print("\n" + text)
    if FULL:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False, cwd=Path(__file__).parent).stdout.strip()
        flagged = [r.label for r in rows if r.p99_err is not None and abs(r.p99_err) > FLAG]
        OUT.write_text(
            "# Analytic model against the simulator\n\n"
            f"Made by `SIZING_SIM_GRID=full python -m pytest tests/test_sim_model_error.py -s --timeout=0` on "
            f"{dt.date.today().isoformat()} at commit {commit}: simulate(seed={SEED}, replications=6, "
            "requests 120k per point, 240k at rho >= 0.8, 480k at rho >= 0.9); evaluate() at the same peak. "
            "Error = (model - simulation) / simulation; ± is the simulator's 95% half-width; "
            f"**!** marks |error| > {FLAG:.0%}. One `def` endpoint, 50 ms of I/O (lognormal, the cv2 given), "
            f"{TOKENS} tokens, cpu 0.2 ms, hand-off 0.4 ms per pass; token passes 1..3 (an extra pass is a "
            "`def` dependency before the body or response validation after it: cpu + hand-off only); "
            "presets at their own peak (stable ones).\n\n"
            f"{len(flagged)} of {len(rows)} rows off by more than {FLAG:.0%} on p99.\n\n" + text + "\n",
            encoding="utf-8",
        )
    for r in rows:
        assert r.sim.stable, r.label
        assert r.model_p99 is None or math.isfinite(r.model_p99)
        assert r.mean_err is not None and r.p99_err is not None, r.label
        # The bands the model states (README "The model"; full grid in tests/data/sim_vs_model.md): the mean
        # within 10% everywhere; the p99 within 20% for I/O cv2 <= 1 up to utilization 0.8, presets within 5%.
        assert abs(r.mean_err) < 0.10, (r.label, r.mean_err)
        if r.label.startswith("preset"):
            assert abs(r.p99_err) < 0.05, (r.label, r.p99_err)
            continue
        m = re.match(r"rho ([\d.]+), io cv2 ([\d.]+),", r.label)
        assert m is not None, r.label
        if float(m.group(1)) <= 0.8 and float(m.group(2)) <= 1.0:
            assert abs(r.p99_err) < 0.20, (r.label, r.p99_err)
