"""The validation report: a JSON format (`--out`, bench/results/) and its table and markdown renderings.

JSON format "sizing-validate/2", one scenario per file (files of format 1, whose verdicts were plain
strings, are read too):
  name, created (UTC ISO), machine {python, uvicorn, loop, http, cores, load averages},
  scenario (the scenario JSON as given), reference_stage, reference_rps (nominal capacity the points are
  fractions of), calibration {..., framework_cpu_ms (low load), framework_mix_ms_at (at the points' rates)},
  points [
    {label, fraction, rps (offered, whole service), nominal_utilization {stage: u},
     measured {offered_rps, achieved_rps, mean_ms, p50_ms, p95_ms, p99_ms, errors, mean_ci_ms (95% half-width)
               and p99_ci_ms ([low, high], 95%) by batch means over the point's own requests, ...},
     burn_plan_ms {class: CPU ms per phase at this point's rate},
     model {mean_ms, p50_ms, p95_ms, p99_ms, max_rps, stable, ...} | null,
     simulator {same} | null,
     verdicts {model, simulator}: each {status: ok | miss | error | not_compared, detail}}
  ]
Predicted latencies include the calibrated client overhead (calibration.overhead_ms), so they compare
directly with the latencies measured at the client. Every time is in ms, every rate in requests/s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from sizing._base import Result

__all__ = [
    "EXIT_ERROR",
    "EXIT_MISS",
    "EXIT_OK",
    "FORMAT",
    "Calibration",
    "Measured",
    "PointReport",
    "Predicted",
    "ValidationReport",
    "Verdict",
    "VerdictStatus",
    "WindowSpread",
    "band_range",
    "disturbance_reason",
    "overloaded",
    "rel_err",
    "verdict",
]

FORMAT = "sizing-validate/2"
# Exit codes of `python -m sizing validate` (2 is bad input, set by the CLI before anything runs).
EXIT_OK = 0
EXIT_MISS = 1
EXIT_ERROR = 3
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


class ClassLatency(Result):
    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Measured(Result):
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
    pools: dict[str, dict[str, float]] = Field(
        description="Per pool (db_sync, db_async, http_sync, http_async): sampled in_use_mean and "
        "waiting_mean, and per step wait_ms (for a connection), hold_ms (with it), asked_ms (of the other side: "
        "the sleep, pg_sleep, the upstream's delay) and steps"
    )
    failures: dict[str, int] = Field(
        default_factory=dict,
        description="Failed requests in the window by cause (db_pool_timeout, db_error, http_error, ...), "
        "counted by the server; each was answered 500",
    )
    failure_examples: dict[str, str] = Field(
        default_factory=dict, description="The server's last error text of each failure cause (truncated)"
    )
    db_activity: dict[str, float] = Field(
        default_factory=dict,
        description="The database's own view: the emulating server's connections in pg_stat_activity by "
        "state (active, idle, idle in transaction), mean of the samples (real backend only)",
    )
    process_cpu: dict[str, float] = Field(
        default_factory=dict,
        description="Cores each of our processes used during the point: server (all workers), postgres, "
        "upstream, generator, harness",
    )
    timeline: list[tuple[float, float, float, float]] = Field(
        default_factory=list,
        description="Per second of the window, from the server's samples: (seconds from the window's start, "
        "requests completed per second, requests failed per second, thread tokens borrowed), all workers: "
        "how a stall looks as it happens",
    )
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


class Predicted(Result):
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


class WindowSpread(Result):
    """What a run of this point's length shows around the long run, from the simulator: the 2.5% and 97.5%
    quantiles of (run mean / long-run mean) and (run p99 / long-run p99) over `runs` simulated runs that start
    empty, drop `warmup` requests and measure `window` (the point's own counts)."""

    runs: int
    window: int
    warmup: int
    mean_ratio: tuple[float, float]
    p99_ratio: tuple[float, float]


VerdictStatus = Literal["ok", "miss", "error", "not_compared"]


class Verdict(Result):
    """One predictor's comparison at one point.

    status: "ok" (within its band), "miss" (outside: `detail` says what and by how much), "error" (the
    predictor raised: `detail` has the exception) or "not_compared" (no prediction, or the measurement
    cannot be trusted: a disturbed machine or a generator that set the pace; `detail` says which).
    """

    status: VerdictStatus
    detail: str = ""

    def __str__(self) -> str:
        return self.status if not self.detail else f"{self.status}: {self.detail}"

    @classmethod
    def from_text(cls, text: str) -> Verdict:
        """A verdict of format 1 (a plain string: "ok", "n/a", "MISS ...", "error: ...", "not compared: ...")."""
        if text == "ok":
            return cls(status="ok")
        if text.startswith("MISS"):
            return cls(status="miss", detail=text.removeprefix("MISS").strip())
        if text.startswith("error"):
            return cls(status="error", detail=text.removeprefix("error:").strip())
        if text == "n/a":
            return cls(status="not_compared", detail="no prediction")
        return cls(status="not_compared", detail=text.removeprefix("not compared:").strip())


class PointReport(Result):
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
    verdicts: dict[str, Verdict]

    @field_validator("verdicts", mode="before")
    @classmethod
    def _format_1(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: Verdict.from_text(v) if isinstance(v, str) else v for k, v in value.items()}
        return value


class Calibration(Result):
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
    db_step: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Real backend: one DB step with nothing else running, from a thread (sync) or on the loop "
        "(async): hold_ms with the database asked for no time, cpu_ms the driver's in it. The predictions "
        "hold a connection that much longer than db_hold_ms, and the driver's CPU is db_cpu_ms",
    )
    hold_overhead_ms: dict[str, float] = Field(
        default_factory=dict,
        description="Per pool, the mean time a connection was held beyond what was asked of the other side "
        "(a sleep, pg_sleep, the upstream's delay): checkout, round trips, driver work, reset on return",
    )
    burn_accuracy: float | None = Field(description="CPU burned / CPU requested")
    generator_ceiling_rps: float | None = Field(
        description="Highest trivial rate sent clean; None if skipped"
    )
    generator_ceiling_cpu: float | None
    notes: list[str] = Field(default_factory=list)


class ValidationReport(Result):
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
    backend: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "emulated"},
        description="What stood behind the server: emulated pools, or a PostgreSQL (private or a schema on the "
        "user's, its version, max_connections and any setting made only for speed) and the driver's pool",
    )
    predicted: str | None = Field(
        default=None,
        description="When predictions were recomputed from the stored calibration; None: at the run",
    )

    @field_validator("format", mode="before")
    @classmethod
    def _read_format_1(cls, value: Any) -> Any:
        return FORMAT if value == "sizing-validate/1" else value

    def with_status(self, *statuses: VerdictStatus) -> list[str]:
        """Every comparison whose verdict has one of `statuses`, one line each."""
        return [
            f"{self.name} {p.label} ({p.rps:.0f} rps) {src}: {v}"
            for p in self.points
            for src, v in p.verdicts.items()
            if v.status in statuses
        ]

    def misses(self) -> list[str]:
        """Every comparison outside its band, one line each."""
        return self.with_status("miss")

    def errors(self) -> list[str]:
        """Every prediction that failed (the model or the simulator raised), one line each."""
        return self.with_status("error")

    def exit_code(self) -> int:
        """3 when a predictor failed, else 1 when a comparison missed its band, else 0."""
        if self.errors():
            return EXIT_ERROR
        return EXIT_MISS if self.misses() else EXIT_OK

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
        from sizing.validation._render import render

        return render(self, markdown=False)

    def to_markdown(self) -> str:
        from sizing.validation._render import render

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


def disturbance_reason(measured: Measured) -> str | None:
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
) -> Verdict:
    """The comparison of `pred` with `measured` (relative to measured); latency bands as `band_range`."""
    if pred is None:
        return Verdict(status="not_compared", detail="no prediction")
    if pred.error:
        return Verdict(status="error", detail=pred.error)
    busy = disturbance_reason(measured)
    if busy:
        return Verdict(status="not_compared", detail=f"machine disturbed ({busy})")
    if overloaded:
        return _throughput_verdict(measured, pred)
    if measured.generator_bound:
        return Verdict(status="not_compared", detail=f"generator-bound ({measured.generator_reason})")
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
    return Verdict(status="miss", detail=", ".join(misses)) if misses else Verdict(status="ok")


def _throughput_verdict(measured: Measured, pred: Predicted) -> Verdict:
    """Past saturation only the completion rate is compared; it needs every request sent on time in
    aggregate (a late send there only adds to a queue that is never empty)."""
    if measured.sent_rps < 0.97 * measured.offered_rps or measured.generator_cpu > 0.85:
        return Verdict(status="not_compared", detail=f"generator-bound ({measured.generator_reason})")
    done = measured.capacity_rps or measured.achieved_rps
    e = rel_err(pred.max_rps, done)
    if e is None:
        return Verdict(status="not_compared", detail="no saturation rate predicted")
    if abs(e) <= THROUGHPUT_BAND:
        return Verdict(status="ok")
    return Verdict(status="miss", detail=f"max_rps {pred.max_rps:.0f} vs {done:.0f} ({e:+.0%})")
