"""The validation report: a JSON format (`--out`, bench/results/) and its table and markdown renderings.

JSON format "sizing-validate/1", one scenario per file:
  name, created (UTC ISO), machine {python, uvicorn, loop, http, cores, load averages},
  scenario (the scenario JSON as given), reference_stage, reference_rps (nominal capacity the points are
  fractions of), calibration {..., framework_cpu_ms (low load), framework_mix_ms_at (at the points' rates)},
  points [
    {label, fraction, rps (offered, whole service), nominal_utilization {stage: u},
     measured {offered_rps, achieved_rps, mean_ms, p50_ms, p95_ms, p99_ms, errors, mean_ci_ms (95% half-width)
               and p99_ci_ms ([low, high], 95%) by batch means over the point's own requests, ...},
     burn_plan_ms {class: CPU ms per phase at this point's rate},
     model {mean_ms, p50_ms, p95_ms, p99_ms, max_rps, stable, ...} | null,
     simulator {same} | null, verdicts {model, simulator}}
  ]
Predicted latencies include the calibrated client overhead (calibration.overhead_ms), so they compare
directly with the latencies measured at the client. Every time is in ms, every rate in requests/s.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FORMAT",
    "Calibration",
    "Measured",
    "PointReport",
    "Predicted",
    "ValidationReport",
    "WindowSpread",
    "band_range",
    "disturbance",
    "overloaded",
    "rel_err",
]

FORMAT = "sizing-validate/1"
MEAN_BAND = 0.10
P99_BAND = 0.20
THROUGHPUT_BAND = 0.10
# A point is "disturbed" (repeated, and not compared if every run was) when, while it ran, other processes
# used more than MAX_OTHER_CPU cores (even niced, they take the second core from the generator and the
# kernel's network work), or the hypervisor stole more than MAX_STEAL cores from this VM: a stolen vCPU
# delays the wake-ups of the loop and the token holders by milliseconds, so latencies measure the host's
# other tenants, not the server. Quiet runs of the stored sweeps had steal <= 0.005 cores; on a contended
# host (2026-12-02) it was 0.15-0.7 cores and the same point's mean doubled.
MAX_OTHER_CPU = 0.25
MAX_STEAL = 0.05


class _R(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClassLatency(_R):
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Measured(_R):
    """What the real server did at one point (the steady window after warm-up)."""

    offered_rps: float = Field(description="Scheduled arrivals in the window / its length")
    sent_rps: float
    achieved_rps: float = Field(description="Successful (200) responses completed in the window / its length")
    window_s: float
    count: int = Field(description="Requests scheduled in the window")
    errors: int = Field(
        description="Neither 200 nor shed: lost, another status, or open at the drain deadline"
    )
    shed: int = Field(
        default=0,
        description="Requests in the window answered 503 at once by admission control (overload points only: "
        "the server keeps its backlog bounded, as uvicorn's --limit-concurrency does)",
    )
    capacity_rps: float | None = Field(
        default=None,
        description="With shedding on a saturated core: the completion rate net of the 503s' CPU, "
        "achieved / (1 - shed per second x the calibrated CPU of a trivial request); the rate the server "
        "would complete without the test's own admission work (None: no shedding, or the core not full)",
    )
    burn_factor: float | None = Field(
        default=None,
        description="What the server's CPU control multiplied the planned burns by at the end of the point, so "
        "a request cost the scenario's cpu_ms (1: the plan as calibrated; held, not adjusted, past capacity)",
    )
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ci_ms: float | None = Field(
        default=None,
        description="Half-width of the mean's 95% confidence interval, by batch means over the point's own "
        "requests in schedule order (None: too few requests, or a result from before this field)",
    )
    p99_ci_ms: tuple[float, float] | None = Field(
        default=None,
        description="(low, high) of the p99's 95% confidence interval, batch means of the exceedance fraction",
    )
    per_class: dict[str, ClassLatency]
    send_lag_mean_ms: float
    send_lag_p99_ms: float
    generator_cpu: float = Field(description="Generator CPU over its send window, in cores")
    generator_bound: bool
    generator_reason: str
    server_cpu: float = Field(description="Mean server CPU per worker process, in cores (sampled clock)")
    cpu_per_request_ms: float | None = Field(
        default=None, description="Server CPU per completed request at this point (all workers)"
    )
    tokens_borrowed_mean: float | None
    token_utilization: float | None
    token_hold_ms: float | None = Field(
        description="Mean token hold per pass by Little's law: borrowed tokens / (passes per second)"
    )
    tasks_waiting_mean: float | None
    tasks_waiting_max: int | None
    pools: dict[str, dict[str, float]]
    samples: int
    other_cpu: float = Field(description="CPU used by other processes on the machine during the point, cores")
    steal: float = Field(description="CPU stolen by the hypervisor during the point, cores")
    runqueue_wait_ms_per_request: float = Field(
        default=0.0,
        description="Time our server's and generators' threads waited for a CPU, per request (schedstat)",
    )
    attempts: int = Field(description="Runs of this point; a disturbed run (other_cpu > limit) is repeated")
    gc_full_pauses: int | None = Field(
        default=None, description="Full (generation 2) collections of the server's cyclic GC during the point"
    )
    gc_full_pause_max_ms: float | None = Field(
        default=None, description="The longest of them: every request in flight stalls that long (GIL held)"
    )
    gc_pause_share: float | None = Field(
        default=None, description="Share of the point's time the server spent in collections, all generations"
    )

    def net_of_shedding(self, shed_cpu_ms: float, workers: int) -> Measured:
        """On a saturated core the 503s of admission control take CPU from the requests served: the rate net
        of that work (priced at a trivial request's server CPU, calibrated once) is the server's capacity."""
        if self.shed <= 0 or self.window_s <= 0 or not self.server_cpu >= 0.95:
            return self
        spent = self.shed / self.window_s / workers * shed_cpu_ms / 1000.0
        if not 0.0 < spent < 0.5:
            return self
        return self.model_copy(update={"capacity_rps": self.achieved_rps / (1.0 - spent)})


class Predicted(_R):
    source: str
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    per_class: dict[str, dict[str, float | None]]
    max_rps: float | None
    stable: bool | None
    token_utilization: float | None
    cpu_utilization: float | None
    bottleneck: str | None
    error: str | None = None


class WindowSpread(_R):
    """What a run of this point's length shows around the long run, from the simulator: the 2.5% and 97.5%
    quantiles of (run mean / long-run mean) and (run p99 / long-run p99) over `runs` simulated runs that start
    empty, drop `warmup` requests and measure `window` (the point's own counts)."""

    runs: int
    window: int
    warmup: int
    mean_ratio: tuple[float, float]
    p99_ratio: tuple[float, float]


class PointReport(_R):
    label: str
    fraction: float | None
    rps: float
    nominal_utilization: dict[str, float]
    measured: Measured
    burn_plan_ms: dict[str, list[float]] | None = Field(
        default=None, description="CPU burned per phase, per class, at this point (None: the calibration's)"
    )
    admitted: int | None = Field(
        default=None,
        description="Requests in flight per worker past which the server answered 503 (None: no admission "
        "control at this point); the simulator was given the same limit",
    )
    window: WindowSpread | None = Field(
        default=None,
        description="The sampling spread of a run this long (simulated); latency verdicts allow for it",
    )
    model: Predicted | None
    simulator: Predicted | None
    verdicts: dict[str, str]


class Calibration(_R):
    """Measured once per run at low load (never per point)."""

    overhead_ms: float = Field(description="Client + loopback round trip, added to every prediction")
    trivial_latency_ms: float
    trivial_server_cpu_ms: float
    framework_cpu_ms: dict[str, float] = Field(description="Server CPU per request with no burn, per class")
    framework_mix_ms_at: dict[str, float] = Field(
        default_factory=dict,
        description="The mix's server CPU per request with no burn at each point's rate (rps -> ms), measured "
        "before the points; each point's burn is cpu_ms less the framework CPU at its rate",
    )
    cpu_ms_emulated: dict[str, float] = Field(description="CPU per request the server spends, per class")
    burn_plan_ms: dict[str, list[float]]
    handoff_ms_saturation: float | None = Field(description="1/throughput - body at 1 token, saturated")
    handoff_ms_gap: float | None = Field(description="Mean gap from one body's end to the next one's start")
    handoff_ms_model: float = Field(description="Token hand-off the predictions used")
    sleep_overshoot_ms: dict[str, float] = Field(description="Mean excess of each emulated wait, by kind")
    burn_accuracy: float | None = Field(description="CPU burned / CPU requested")
    generator_ceiling_rps: float | None = Field(
        description="Highest trivial rate sent clean; None if skipped"
    )
    generator_ceiling_cpu: float | None
    notes: list[str] = Field(default_factory=list)


class ValidationReport(_R):
    """Measured against predicted for one scenario on a real uvicorn server (see the module docstring)."""

    format: str = FORMAT
    name: str
    created: str
    machine: dict[str, Any]
    scenario: dict[str, Any]
    reference_stage: str
    reference_rps: float
    seconds: float
    calibration: Calibration
    points: list[PointReport]
    predicted: str | None = Field(
        default=None,
        description="When predictions were recomputed from the stored calibration; None: at the run",
    )

    def misses(self) -> list[str]:
        """Every comparison outside its band (a verdict starting with MISS), one line each."""
        out = []
        for p in self.points:
            for src, v in p.verdicts.items():
                if v.startswith("MISS"):
                    out.append(f"{self.name} {p.label} ({p.rps:.0f} rps) {src}: {v}")
        return out

    def rejudged(self) -> ValidationReport:
        """The same report with every verdict recomputed from its stored numbers by the current rules."""
        points = []
        for p in self.points:
            verdicts = {
                "model": verdict(p.measured, p.model, overloaded(p.fraction, p.model), window=p.window),
                "simulator": verdict(
                    p.measured, p.simulator, overloaded(p.fraction, p.simulator), window=p.window
                ),
            }
            points.append(p.model_copy(update={"verdicts": verdicts}))
        return self.model_copy(update={"points": points})

    def to_table(self) -> str:
        from sizing._realserver._render import render

        return render(self, markdown=False)

    def to_markdown(self) -> str:
        from sizing._realserver._render import render

        return render(self, markdown=True)


def rel_err(pred: float | None, meas: float | None) -> float | None:
    if pred is None or meas is None or meas == 0:
        return None
    return (pred - meas) / meas


def overloaded(fraction: float | None, pred: Predicted | None) -> bool:
    """Past saturation for this predictor: the point is past its stage's capacity, or it says unstable."""
    return (fraction or 0.0) >= 1.0 or bool(pred and pred.stable is False)


def band_range(
    measured: Measured, field: str, *, ci: bool = False, window: WindowSpread | None = None
) -> tuple[float, float] | None:
    """The long-run predictions (ms) that pass for `field` ("mean_ms" or "p99_ms"): the bar's band around
    what the point measured, allowing for how far a run of its length strays from the long run.

    `window` (simulated, see WindowSpread): a long-run value P shows as M in [lo P, hi P] in 95% of runs this
    long, so P lies in [M / hi, M / lo]; the band is that, widened by the bar (10% of M for the mean, 20% for
    the p99). Without it, `ci` widens by the point's own batch-means interval (`mean_ci_ms`, `p99_ci_ms`),
    which understates the spread near saturation (see sizing/_sim/_windows.py); else the bar's band alone.
    """
    m = getattr(measured, field)
    if m is None:
        return None
    band = (MEAN_BAND if field == "mean_ms" else P99_BAND) * m
    lo, hi = m, m
    ratio = None if window is None else (window.mean_ratio if field == "mean_ms" else window.p99_ratio)
    if ratio is not None and ratio[0] > 0 and ratio[1] > 0:
        lo, hi = min(m / ratio[1], m), max(m / ratio[0], m)
    elif ci and field == "mean_ms" and measured.mean_ci_ms is not None:
        lo, hi = m - measured.mean_ci_ms, m + measured.mean_ci_ms
    elif ci and field == "p99_ms" and measured.p99_ci_ms is not None:
        lo, hi = min(measured.p99_ci_ms[0], m), max(measured.p99_ci_ms[1], m)
    return lo - band, hi + band


def disturbance(measured: Measured) -> str | None:
    """Why this point's timing is not the server's (other processes, hypervisor steal), or None."""
    why = []
    if measured.other_cpu > MAX_OTHER_CPU:
        why.append(f"other processes {measured.other_cpu:.2f} cores > {MAX_OTHER_CPU}")
    if measured.steal > MAX_STEAL:
        why.append(f"hypervisor steal {measured.steal:.2f} cores > {MAX_STEAL}")
    return "; ".join(why) or None


def verdict(
    measured: Measured,
    pred: Predicted | None,
    overloaded: bool,
    *,
    ci: bool = False,
    window: WindowSpread | None = None,
) -> str:
    """`ok`, `n/a`, or what missed and by how much (relative to measured); latency bands as `band_range`."""
    if pred is None:
        return "n/a"
    if pred.error:
        return f"error: {pred.error}"
    busy = disturbance(measured)
    if busy:
        return f"not compared: machine disturbed ({busy})"
    if overloaded:
        # Past saturation only the completion rate is compared; it needs every request sent on time in
        # aggregate (a late send there only adds to a queue that is never empty).
        if measured.sent_rps < 0.97 * measured.offered_rps or measured.generator_cpu > 0.85:
            return f"not compared: generator-bound ({measured.generator_reason})"
        done = measured.capacity_rps or measured.achieved_rps
        e = rel_err(pred.max_rps, done)
        if e is None:
            return "n/a"
        return (
            "ok" if abs(e) <= THROUGHPUT_BAND else f"MISS max_rps {pred.max_rps:.0f} vs {done:.0f} ({e:+.0%})"
        )
    if measured.generator_bound:
        return f"not compared: generator-bound ({measured.generator_reason})"
    misses = []
    for field in ("mean_ms", "p99_ms"):
        p, m = getattr(pred, field), getattr(measured, field)
        e = rel_err(p, m)
        allowed = band_range(measured, field, ci=ci, window=window)
        if p is None:
            misses.append(f"{field[:-3]} unbounded vs {m:.1f}")
        elif e is not None and allowed is not None and not (allowed[0] <= p <= allowed[1]):
            wide = f", allowed {allowed[0]:.1f}..{allowed[1]:.1f}" if ci or window is not None else ""
            misses.append(f"{field[:-3]} {p:.1f} vs {m:.1f} ({e:+.0%}{wide})")
    return "ok" if not misses else "MISS " + ", ".join(misses)
