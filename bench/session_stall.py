"""The session that spans token passes, stalled for real and fixed at the same load.

    python bench/session_stall.py [--seconds 60]

The FastAPI tutorial's pattern on the real backend (PostgreSQL through a SQLAlchemy 2 `Session` on a
QueuePool, AnyIO's default 40 tokens, the default pool of 5 + 10, pool_timeout 30 s): a `def get_db()`
generator yields a lazy Session (pass 1), a current-user dependency queries with it and checks the
connection out (pass 2), the body queries again (pass 3), the response model is validated (pass 4), and the
generator closes the session after the response. 2 ms of CPU and 60 ms asked of PostgreSQL per request.
Run at 0.95 of the model's max_rps, a load whose stall_rps the model puts below it; then the same load
with recommend's fix, FastAPI's `Depends(get_db, max_concurrency=15)` (one slot per connection); then with
a session per pass (the body opens and closes its own: `db_connection_scope` "pass").

Writes bench/results/session-stall-{request,request-max-concurrency,pass}.json (format
sizing-validate/2, each point with its per-second timeline) and prints, per run, completions, failures by
cause and the seconds in which nothing completed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sizing import Scenario, evaluate, simulate, validate  # noqa: E402
from sizing.model import max_rps, stall_time_s  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FRACTION = 0.95


def tutorial(rps: float, scope: str, sessions: int | None = None) -> Scenario:
    return Scenario.model_validate({
        "traffic": {"rps": rps},
        "endpoints": [{
            "name": "tutorial crud", "share": 1.0, "handler": "sync", "cpu_ms": 2.0, "db_hold_ms": 60.0,
            "sync_dependencies": 2, "response_model": True, "db_connection_scope": scope,
            "db_first_use_pass": 2 if scope == "request" else 1,
        }],
        "deployment": {"db_session_max_concurrency": sessions},
    })


RUNS = [
    # (file name, scope, FastAPI's max_concurrency on get_db)
    ("request", "request", None),
    ("request-max-concurrency", "request", 15),
    ("pass", "pass", None),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="schedule per run (default: %(default)s)")
    args = parser.parse_args()
    top = max_rps(tutorial(100.0, "request"))[0]
    rps = FRACTION * top
    for label, scope, sessions in RUNS:
        s = tutorial(rps, scope, sessions)
        ev = evaluate(s)
        sim = simulate(s, requests=int(rps * 600), replications=4, warmup_fraction=0.0, stop_at_stall=True)
        print(f"{label}: {rps:.1f} rps; model max_rps {ev.max_rps:.1f}, stall_rps {ev.stall_rps}, stall_burst "
              f"{ev.stall_burst}, expected time to a stall {stall_time_s(s, rps)} s; simulated first stalls "
              f"{sim.first_stall_s} s; findings {[f.code for f in ev.findings]}", flush=True)
        report = validate(s, f"{rps:.1f}rps", seconds=args.seconds, backend="postgres", retries=0,
                          name=f"session-stall-{label}", max_requests=1_000_000)
        out = RESULTS / f"session-stall-{label}.json"
        out.write_text(report.model_dump_json(indent=1) + "\n")
        for p in report.points:
            m = p.measured
            idle = sum(1 for t in m.timeline if t[1] == 0)
            print(f"  measured: offered {m.offered_rps:.1f}, completed {m.achieved_rps:.1f}/s, errors {m.errors}, "
                  f"failures {m.failures}, seconds with no completion {idle} of {len(m.timeline)}, p99 {m.p99_ms}; "
                  f"written {out.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
