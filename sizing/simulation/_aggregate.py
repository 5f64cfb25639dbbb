"""From raw replications to result rows: stages, latencies, confidence intervals, the histogram, stability."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sizing.model._results import Latency, Stage
from sizing.simulation._program import (
    ACQUIRE,
    DELAY,
    END,
    LOOP,
    N_RESOURCES,
    OP_SHIFT,
    RELEASE,
    STAGES,
    TOKEN,
    WorkerSpec,
)
from sizing.simulation._result import LatencyHistogram
from sizing.simulation._stats import finite_or_none, mean_and_half_width
from sizing.simulation._worker import Replication, run_replication

__all__ = ["Summary", "hold_floor", "run_program", "summarise"]

_QUANTILES = (0.5, 0.95, 0.99)
_HIST_BINS = 60
_NESTING = (LOOP, TOKEN)  # resources whose hold includes waits for other resources
# A backlog growing by more than this fraction of the measured arrivals (and clearly, over the
# replications) means the offered load exceeds what the worker serves.
_DRIFT = 0.01


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    stages: list[Stage]
    latency: list[Latency]
    throughput_per_worker_rps: float | None
    ci: dict[str, float | None]
    stable: bool
    histogram: LatencyHistogram | None
    notes: list[str]


def _est(ci: dict[str, float | None], key: str, per_rep: Sequence[float]) -> float | None:
    m, hw = mean_and_half_width(np.asarray(per_rep, dtype=np.float64))
    ci[key] = finite_or_none(hw)
    return finite_or_none(m)


def _drift(reps: Sequence[Replication]) -> float | None:
    """Mean growth of the number in system over the window, as a fraction of the measured arrivals,
    when it is clearly positive (over 1% and, with several replications, over 3 standard errors)."""
    g = np.array([(r.in_system_end - r.in_system_start) / max(r.measured, 1) for r in reps])
    mean = float(g.mean())
    if mean <= _DRIFT:
        return None
    if g.size >= 2 and mean <= 3.0 * float(g.std(ddof=1)) / math.sqrt(g.size):
        return None
    return mean


def _stages(
    spec: WorkerSpec, reps: Sequence[Replication], ci: dict[str, float | None], hold_floor: Sequence[float]
) -> list[Stage]:
    rows = []
    for res, name in enumerate(STAGES):
        servers = spec.capacity[res]
        visits_ms = spec.offered_visits_per_ms(res)
        n = sum(r.hold_n[res] for r in reps)
        s1 = math.fsum(r.hold_sum[res] for r in reps)
        s2 = math.fsum(r.hold_sq[res] for r in reps)
        hold = s1 / n if n else 0.0
        cv2 = max(s2 / n / (hold * hold) - 1.0, 0.0) if n and hold > 0 else 0.0
        # Offered load from the known visit rate: in overload the measured throughput would hide it. The
        # CPU and pool holds are step times, known exactly; the loop's and a token's include waits inside.
        hold_for_load = max(hold, hold_floor[res]) if res in _NESTING else hold_floor[res]
        util = visits_ms * hold_for_load / servers if servers > 0 else (math.inf if visits_ms > 0 else 0.0)
        stable = util < 1.0
        key = f"stages.{name}"
        per_rep = [np.asarray(r.waits[res], dtype=np.float64) for r in reps if r.waits[res]]
        ci[f"{key}.hold_ms"] = None
        if visits_ms <= 0 or not per_rep:
            p_wait, w_mean, w_p99 = 0.0, (0.0 if stable else None), (0.0 if stable else None)
            ci[f"{key}.p_wait"] = ci[f"{key}.wait_mean_ms"] = ci[f"{key}.wait_p99_ms"] = None
        else:
            p_wait = _est(ci, f"{key}.p_wait", [float((w > 0).mean()) for w in per_rep]) or 0.0
            w_mean = _est(ci, f"{key}.wait_mean_ms", [float(w.mean()) for w in per_rep])
            _est(ci, f"{key}.wait_p99_ms", [float(np.quantile(w, 0.99)) for w in per_rep])
            w_p99 = float(np.quantile(np.concatenate(per_rep), 0.99))
            _est(ci, f"{key}.hold_ms", [r.hold_sum[res] / r.hold_n[res] for r in reps if r.hold_n[res]])
            if not stable:
                w_mean = w_p99 = None
                ci[f"{key}.wait_mean_ms"] = ci[f"{key}.wait_p99_ms"] = None
        rows.append(Stage(
            name=name, servers=servers, arrival_rps=visits_ms * 1000.0, hold_ms=hold, hold_cv2=cv2,
            utilization=min(util, 1e300), stable=stable, p_wait=p_wait, wait_mean_ms=w_mean,
            wait_p99_ms=w_p99, method="simulation",
        ))
    return rows


def _latency_row(
    name: str, share: float, per_rep: list[NDArray[np.float64]], ci: dict[str, float | None], method: str,
    stable: bool,
) -> Latency:
    key = f"latency.{name}"
    fields = ("mean_ms", "p50_ms", "p95_ms", "p99_ms")
    live = [x for x in per_rep if x.size]
    if not stable or not live:
        for f in fields:
            ci[f"{key}.{f}"] = None
        why = method if live else "simulation: no request of this class was measured"
        return Latency(
            name=name, share=share, mean_ms=None, p50_ms=None, p95_ms=None, p99_ms=None, method=why
        )
    mean = _est(ci, f"{key}.mean_ms", [float(x.mean()) for x in live])
    # Quantiles of all requests pooled (a mean of per-replication quantiles is biased when latencies are
    # autocorrelated); their spread over the replications gives the half-width.
    qs = np.array([np.quantile(x, _QUANTILES) for x in live])
    for i, f in enumerate(fields[1:]):
        _est(ci, f"{key}.{f}", qs[:, i].tolist())
    p50, p95, p99 = (float(v) for v in np.quantile(np.concatenate(live), _QUANTILES))
    return Latency(name=name, share=share, mean_ms=mean, p50_ms=p50, p95_ms=p95, p99_ms=p99, method=method)


def _histogram(spec: WorkerSpec, reps: Sequence[Replication]) -> LatencyHistogram | None:
    per_class = [np.concatenate([r.latency_array(k) for r in reps]) for k in range(len(spec.classes))]
    pooled = np.concatenate(per_class)
    if pooled.size == 0:
        return None
    top = float(np.quantile(pooled, 0.999)) * 1.02
    top = top if top > 0 else 1.0
    edges = np.linspace(0.0, top, _HIST_BINS + 1)
    counts = [np.histogram(x, bins=edges)[0] for x in per_class]
    total = np.sum(counts, axis=0)
    return LatencyHistogram(
        edges_ms=edges.tolist(),
        counts=[int(v) for v in total],
        by_class={c.name: [int(v) for v in cnt] for c, cnt in zip(spec.classes, counts, strict=True)},
        overflow=int((pooled > top).sum()),
    )


_CODE_MASK = (1 << OP_SHIFT) - 1


def hold_floor(spec: WorkerSpec) -> list[float]:
    """Mean hold of each resource per visit counting only the delays inside it (no wait): a lower bound."""
    first = [0.0] * N_RESOURCES
    rate = [0.0] * N_RESOURCES
    for cls in spec.classes:
        held: list[int] = []
        for op in cls.code:
            code, arg = op & _CODE_MASK, op >> OP_SHIFT
            if code == END:
                break  # the abort paths follow
            if code == DELAY:
                for r in held:
                    first[r] += cls.share * spec.samplers[arg].mean
            elif code == ACQUIRE:
                held.append(arg)
                rate[arg] += cls.share
            elif code == RELEASE:
                held.remove(arg)
    return [f / r if r > 0 else 0.0 for f, r in zip(first, rate, strict=True)]


def summarise(spec: WorkerSpec, reps: Sequence[Replication], workers: int = 1) -> Summary:
    """Rows of the result from the replications that ran (at least one).

    A stage's hold is measured where it is busy; where it never was, `hold_floor` gives it (exact for the
    CPU and the pools, a lower bound for the rest).
    """
    ci: dict[str, float | None] = {}
    notes: list[str] = []
    stages = _stages(spec, reps, ci, hold_floor(spec))
    stable = all(s.stable for s in stages)
    for s in stages:
        if not s.stable:
            notes.append(f"Unstable: {s.name} is offered {s.utilization:.3g} of its {s.servers} server(s).")
    drift = _drift(reps)
    if drift is not None:
        stable = False
        notes.append(f"Unstable: the number of requests in the worker grew by {drift:.1%} of the arrivals.")
    if any(r.overrun for r in reps):
        stable = False
        notes.append("Unstable: measured requests were still unfinished when the arrival margin ran out.")
    measured = sum(r.completed for r in reps)
    method = f"simulation: {measured} requests measured over {len(reps)} replication(s)"
    unstable_method = "simulation: unstable, latency is unbounded"
    how = method if stable else unstable_method
    rows = []
    for k, cls in enumerate(spec.classes):
        per_rep = [r.latency_array(k) for r in reps]
        rows.append(_latency_row(cls.name, cls.share, per_rep, ci, how, stable))
    overall = [np.concatenate([r.latency_array(k) for k in range(len(spec.classes))]) for r in reps]
    rows.append(_latency_row("overall", 1.0, overall, ci, how, stable))
    thr = [r.departures_in_window / r.window_ms * 1000.0 for r in reps if r.window_ms > 0]
    throughput = _est(ci, "throughput_rps_per_worker", thr) if thr else None
    hw = ci.pop("throughput_rps_per_worker", None)
    ci["throughput_rps"] = None if hw is None else hw * workers
    return Summary(
        stages=stages,
        latency=rows,
        throughput_per_worker_rps=throughput,
        ci=ci,
        stable=stable,
        histogram=_histogram(spec, reps),
        notes=notes,
    )


def run_program(
    spec: WorkerSpec,
    *,
    requests: int,
    warmup: int,
    replications: int,
    seed: int,
    workers: int = 1,
    max_wall_seconds: float = 120.0,
) -> Summary:
    """Run a compiled worker program: `replications` independent runs of `requests` arrivals each (the first
    `warmup` not measured), seeded from `seed`, then summarise them. The engine `simulate` drives, for
    phase programs and step laws the scenario format does not offer (exponential steps, say)."""
    deadline = time.perf_counter() + max_wall_seconds
    runs = [
        run_replication(spec, requests, warmup, np.random.default_rng(child), deadline=deadline,
                        margin=max(requests // 2, 1000))
        for child in np.random.SeedSequence(seed).spawn(replications)
    ]
    return summarise(spec, runs, workers)
