"""The two failures users meet in production, reproduced on the real backend and counted by cause.

    python bench/failures.py [--seconds 15]

1. The fleet's connection budget: 2 workers x (pool 4 + overflow 4) = 16 possible connections against a
   PostgreSQL with max_connections 12, 3 of them reserved for superusers (and one taken by the harness's
   own pg_stat_activity probe). The app connects as an ordinary role, so a new connection past the budget
   gets "remaining connection slots are reserved for non-replication superuser connections": a 500. The
   model's `fleet_db_over_budget` finding fires for the scenario before anything runs.
2. pool_timeout: one worker, 16 tokens, a pool of 2 and a pool_timeout of 200 ms, offered 1.5x what the
   pool can serve with the backlog left to grow: checkouts that wait past 200 ms fail with SQLAlchemy's
   TimeoutError, a 500.

Writes bench/results/failure-fleet-budget.json and bench/results/failure-pool-timeout.json (format
sizing-validate/2) and prints, per point, the requests, the failures by cause and the model's findings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sizing import Scenario, evaluate, validate  # noqa: E402

RESULTS = ROOT / "bench" / "results"

FLEET = Scenario.model_validate({
    "traffic": {"rps": 200},
    "endpoints": [{"name": "db def", "share": 1.0, "handler": "sync", "cpu_ms": 2.0, "db_hold_ms": 20.0,
                   "db_hold_cv2": 0.0}],
    "deployment": {"workers_per_host": 2, "cores_per_host": 2, "thread_tokens": 16, "db_pool_size": 4,
                   "db_max_overflow": 4, "db_max_connections": 12, "db_reserved_connections": 3},
})

TIMEOUT = Scenario.model_validate({
    "traffic": {"rps": 50},
    "endpoints": [{"name": "db def", "share": 1.0, "handler": "sync", "cpu_ms": 2.0, "db_hold_ms": 20.0,
                   "db_hold_cv2": 0.0}],
    "deployment": {"thread_tokens": 16, "db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout_ms": 200.0},
})


def _show(name: str, scenario: Scenario, points: str, seconds: float, overload: str) -> None:
    findings = [f.code for f in evaluate(scenario).findings]
    print(f"{name}: the model's findings before the run: {', '.join(findings) or 'none'}", flush=True)
    report = validate(scenario, points, seconds=seconds, ceiling=False, retries=1, backend="postgres",
                      overload=overload, name=name, progress=lambda line: print(f"  {line}", flush=True))
    (RESULTS / f"{name}.json").write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    for p in report.points:
        m = p.measured
        print(f"  {p.label}: {m.count} requests in the window, {m.achieved_rps:.0f} done/s, errors {m.errors}, "
              f"failures by cause {m.failures}, connections by state {m.db_activity}", flush=True)
        for cause, text in m.failure_examples.items():
            print(f"    {cause}: {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    _show("failure-fleet-budget", FLEET, "180rps,320rps", args.seconds, "shed")
    _show("failure-pool-timeout", TIMEOUT, "60rps,150rps", args.seconds, "queue")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
