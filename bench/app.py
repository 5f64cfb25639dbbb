"""Server-side time of a full rerun of the Streamlit page after a widget change (AppTest, no browser).

Three measurements on the default scenario ("mixed service"):
  warm: the request rate toggles between two values seen before, so every model call is a cache hit;
        this is the page's own cost (widgets, figures, serialisation).
  cold: the request rate takes a new value every time, so the model runs: evaluate, recommend and
        every chart's numbers (what a planner typing a new number waits for).
  model: each cached call of a cold rerun on its own, to show which model call dominates.

Run plain (not niced) and twice: `python bench/app.py`; `--quick` for fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def _summary(xs: list[float]) -> dict[str, float]:
    ms = [1000 * x for x in xs]
    return {
        "n": len(ms),
        "p50_ms": round(_pct(ms, 0.5), 1),
        "p95_ms": round(_pct(ms, 0.95), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "max_ms": round(max(ms), 1),
    }


def rerun_times(values: Callable[[int], float], n: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    from sizing_app import compute

    compute.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    assert not at.exception, at.exception
    for i in range(2):  # warm-up: imports, first figures, both toggle values cached
        at.number_input(key="rps").set_value(values(i)).run()
    out = []
    for i in range(n):
        at.number_input(key="rps").set_value(values(i + 2))
        t = time.perf_counter()
        at.run()
        out.append(time.perf_counter() - t)
        assert not at.exception and len(at.get("plotly_chart")) == 6, at.exception
    return out


def model_calls(reps: int) -> dict[str, dict[str, float]]:
    from sizing import preset
    from sizing_app import services as svc

    s = preset("mixed service")
    sj = s.model_dump_json()
    today = svc.evaluate_today(sj)
    rec = svc.recommend_for(sj)
    rj = svc.recommended_for(sj, rec)
    assert rj is not None and rec.evaluation is not None
    rec_sat = (rec.evaluation.max_rps, rec.evaluation.bottleneck)
    calls: dict[str, Callable[[], object]] = {
        "evaluate (today)": lambda: svc.evaluate_today(sj),
        "recommend": lambda: svc.recommend_for(sj),
        "latency curve, today (25 rates)": lambda: svc.curve_for(
            sj, "today", (today.max_rps, today.bottleneck)
        ),
        "latency curve, recommended": lambda: svc.curve_for(rj, "recommended", rec_sat),
        "wait sweeps (tokens, pool)": lambda: svc.sweeps_for(rj),
        "sensitivity heatmap 6x6 (p99)": lambda: svc.heatmap_for(rj, "p99"),
        "blocking sweep": lambda: svc.blocking_for(rj),
        "stages at peak (x2)": lambda: (svc.stages_for(sj), svc.stages_for(rj)),
    }
    from sizing import latency_at, stages_at

    calls["one latency_at"] = lambda: latency_at(s, 200.0)
    calls["one stages_at"] = lambda: stages_at(s, 200.0)
    out = {}
    for name, fn in calls.items():
        fn()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        out[name] = _summary(ts)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    warm_n, cold_n, model_n = (30, 6, 3) if args.quick else (200, 25, 10)
    t0 = time.perf_counter()
    warm = _summary(rerun_times(lambda i: 150.0 if i % 2 else 160.0, warm_n))
    # New rates 150.5, 151.0, ... never seen: every rerun misses every cache.
    cold = _summary(rerun_times(lambda i: 150.0 + 0.5 * (i + 1), cold_n))
    model = model_calls(model_n)
    result = {
        "warm_rerun": warm,
        "cold_rerun": cold,
        "model_calls": model,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print("full rerun after a widget change, server side (AppTest), default scenario")
    print(f"  warm (cached model calls): p50 {warm['p50_ms']} ms  p95 {warm['p95_ms']} ms  (n={warm['n']})")
    print(
        f"  cold (new value, model runs): p50 {cold['p50_ms']} ms  p95 {cold['p95_ms']} ms  (n={cold['n']})"
    )
    print("model calls of one cold rerun (each on its own):")
    for name, r in model.items():
        print(f"  {name:34s} p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
