"""Time to a worker's first stall, simulated, next to the model's estimate (a check of the method).

    python bench/stall.py [--hours 0.5] [--replications 8] [--out bench/results/stall-sim.json]
    python bench/stall.py --latency [--out bench/results/session-latency-sim.json]

A worker whose `def` requests keep a session's connection from their second pass to the end of the request
(the FastAPI tutorial's `get_db` generator plus a current-user dependency that queries, a body and a
response model: four passes, the connection checked out in the second), simulated request by request until
its first stall or for `--hours` of simulated time per replication. The mean time to the first stall is the
exponential estimate: the simulated time, stalled or not, over the number of stalls (with none, a lower
bound). Printed next to `stall_time_s`, the model's expected time from the birth-death chain, for a few
deployments and loads. With --latency: the model's mean and p99 and the connection's hold against the
simulator's for the same worker with the session held across passes and with a session per pass, at loads
where it does not stall within the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sizing import Scenario, simulate  # noqa: E402
from sizing.model import max_rps, stall_time_s  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def tutorial(rps: float, *, tokens: int, pool: int, overflow: int, cpu_ms: float = 4.0, db_ms: float = 10.0,
             scope: str = "request") -> Scenario:
    return Scenario.model_validate({
        "traffic": {"rps": rps},
        "endpoints": [{
            "name": "tutorial crud", "share": 1.0, "handler": "sync", "cpu_ms": cpu_ms, "db_hold_ms": db_ms,
            "sync_dependencies": 2, "response_model": True, "db_connection_scope": scope,
            "db_first_use_pass": 2 if scope == "request" else 1,
        }],
        "deployment": {"thread_tokens": tokens, "db_pool_size": pool, "db_max_overflow": overflow},
    })


CASES = [
    # (label, deployment, loads as fractions of the model's max_rps)
    ("40 tokens, pool 5 + 10 (the defaults)", {"tokens": 40, "pool": 5, "overflow": 10}, (0.93, 0.96, 0.98)),
    ("40 tokens, pool 5 + 0", {"tokens": 40, "pool": 5, "overflow": 0}, (0.85, 0.9, 0.95, 1.0)),
    ("8 tokens, pool 5 + 0", {"tokens": 8, "pool": 5, "overflow": 0}, (0.6, 0.7, 0.8, 0.9)),
    ("16 tokens, pool 4 + 0, DB-bound", {"tokens": 16, "pool": 4, "overflow": 0, "cpu_ms": 2.0, "db_ms": 20.0},
     (0.7, 0.8, 0.9, 0.95)),
]


def measure(s: Scenario, hours: float, reps: int, seed: int) -> dict[str, float | int | None]:
    per_rep = max(int(s.traffic.peak_rps * hours * 3600.0), 1000)
    start = time.perf_counter()
    r = simulate(s, requests=per_rep * reps, replications=reps, seed=seed, stop_at_stall=True,
                 max_wall_seconds=3600.0, warmup_fraction=0.0)
    stalls = [t for t in r.first_stall_s if t is not None]
    exposure = sum(stalls) + (len(r.first_stall_s) - len(stalls)) * per_rep / s.traffic.peak_rps
    return {
        "replications": len(r.first_stall_s),
        "stalled": len(stalls),
        "exposure_s": exposure,
        "mean_time_to_stall_s": exposure / len(stalls) if stalls else None,
        "wall_s": time.perf_counter() - start,
    }


def latency_rows() -> list[dict[str, object]]:
    from sizing import evaluate

    rows: list[dict[str, object]] = []
    for pool in (40, 15):
        for scope in ("request", "pass"):
            top = max_rps(tutorial(100.0, tokens=40, pool=pool, overflow=0, scope=scope))[0]
            for f in (0.5, 0.7, 0.8, 0.9):
                s = tutorial(top * f, tokens=40, pool=pool, overflow=0, scope=scope)
                ev = evaluate(s)
                sim = simulate(s, requests=300_000, replications=3, seed=len(rows))
                db_ev, db_sim = ev.stage("db_pool"), sim.stage("db_pool")
                row = {"pool": pool, "scope": scope, "fraction": f, "rps": s.traffic.peak_rps,
                       "model_mean_ms": ev.overall.mean_ms, "model_p99_ms": ev.overall.p99_ms,
                       "sim_mean_ms": sim.overall.mean_ms, "sim_p99_ms": sim.overall.p99_ms,
                       "model_hold_ms": db_ev.hold_ms if db_ev else None,
                       "sim_hold_ms": db_sim.hold_ms if db_sim else None, "sim_stalls": sim.stalls}
                rows.append(row)
                print(row, flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5, help="simulated hours per replication at most")
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--latency", action="store_true", help="latencies and holds, model against simulator")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.latency:
        out = args.out or RESULTS / "session-latency-sim.json"
        out.write_text(json.dumps({"rows": latency_rows()}, indent=1) + "\n")
        return 0
    args.out = args.out or RESULTS / "stall-sim.json"
    rows = []
    for label, dep, fractions in CASES:
        base = tutorial(100.0, **dep)
        top = max_rps(base)[0]
        for f in fractions:
            s = tutorial(top * f, **dep)
            sim = measure(s, args.hours, args.replications, seed=len(rows))
            model = stall_time_s(s, s.traffic.peak_rps)
            row = {"case": label, "fraction": f, "rps": s.traffic.peak_rps, "max_rps": top,
                   "model_time_to_stall_s": model, **sim}
            rows.append(row)
            shown = "none" if sim["mean_time_to_stall_s"] is None else f"{sim['mean_time_to_stall_s']:.3g} s"
            print(f"{label} at {f:.2f} x {top:.1f} = {s.traffic.peak_rps:.1f} rps: simulated {shown} "
                  f"({sim['stalled']}/{sim['replications']} stalled, {sim['exposure_s']:.0f} s simulated); "
                  f"model {model:.3g} s  [{sim['wall_s']:.0f} s wall]", flush=True)
    args.out.write_text(json.dumps({"hours": args.hours, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
