"""One load point: generator processes driving the server, the server's statistics sampled meanwhile.

The analysis keeps the steady window only (schedule times after the warm-up) and refuses a point where
the generator, not the server, set the pace (requests not sent, send lag, or a saturated generator core).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import httpx
import numpy as np

from sizing.validation._processes import LOADGEN, OwnedProcess, Server, child_env
from sizing.validation._report import MAX_OTHER_CPU, MAX_STEAL, ClassLatency, Measured
from sizing.validation.loadgen._spec import LoadResult, LoadSpec, runqueue_wait_s

__all__ = [
    "MAX_LAG_P99_MS",
    "MAX_OTHER_CPU",
    "MAX_STEAL",
    "PointRun",
    "analyze",
    "disturbance_score",
    "disturbed",
    "drive",
    "gc_in_window",
    "latency_ci",
    "machine_cpu",
]

MAX_LAG_P99_MS = 5.0
MAX_GENERATOR_CPU = 0.85
# MAX_OTHER_CPU and MAX_STEAL (in _report) say when a point is disturbed. (Our own threads' run-queue wait
# is reported too, but on 2 cores it is ~1 ms per request on a quiet machine.)
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    v = [float(x) / _CLK_TCK for x in parts[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0.0
    return user + nice + system + irq + softirq, steal, sum(v[:8])


def _proc_cpu(pid: int, *, reaped: bool = False) -> float:
    """CPU seconds of `pid`; with `reaped`, also of its children that have exited (cutime, cstime)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    own = float(fields[11]) + float(fields[12])
    return (own + (float(fields[13]) + float(fields[14]) if reaped else 0.0)) / _CLK_TCK


def group_cpu(pgid: int) -> float:
    """CPU seconds of a process group and of its leader's children: the live ones, and those the leader
    has reaped (a PostgreSQL's backends come and go with the connections; their time moves to the
    postmaster's)."""
    return sum(_proc_cpu(pid, reaped=pid == pgid) for pid in _group_pids(pgid, children=True))


def _group_pids(pgid: int, *, children: bool = False) -> list[int]:
    """The processes of the group `pgid`; with `children`, also the direct children of its leader that left
    it (a PostgreSQL's backends each start a session of their own)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid or (children and int(fields[1]) == pgid):
                out.append(int(name))
    return out


@dataclass(slots=True)
class PointRun:
    load: LoadResult
    samples: list[dict[str, Any]]
    other_cpu: float
    rq_wait_s: float
    steal: float
    # Cores each of our processes used over the point: the server's workers, its companions (PostgreSQL,
    # the upstream), the generators and this harness.
    process_cpu: dict[str, float] = dataclasses.field(default_factory=dict)
    probes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # `probe()` results over the point


Probe = Callable[[], dict[str, Any]]


class _Sampler(threading.Thread):
    """Polls /_stats on its own keep-alive connection until stopped (bounded by `max_s`); every
    `probe_every` polls it also calls `probe` (a database's own view, say), whose failures are skipped."""

    def __init__(
        self,
        base_url: str,
        interval_s: float,
        max_s: float,
        probe: Probe | None = None,
        probe_every: int = 5,
        workers: int = 1,
    ) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        # A keep-alive connection always reaches the same worker: with several, each poll opens a new one,
        # so every worker is sampled (which one answers is the kernel's choice).
        self.fresh = workers > 1
        self.interval_s = interval_s
        self.max_s = max_s
        self.samples: list[dict[str, Any]] = []
        self.probe = probe
        self.probe_every = probe_every
        self.probes: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.max_s
        polls = 0
        limits = httpx.Limits(max_keepalive_connections=0) if self.fresh else httpx.Limits()
        with httpx.Client(base_url=self.base_url, timeout=5.0, limits=limits) as client:
            while not self.halt.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    self.samples.append(client.get("/_stats").json())
                if self.probe is not None and polls % self.probe_every == 0:
                    with contextlib.suppress(Exception):
                        self.probes.append({"t": time.monotonic(), **self.probe()})
                polls += 1
                self.halt.wait(self.interval_s)


def _read_until(fd: int, buf: bytearray, deadline: float, *, line: bool) -> None:
    """Read from `fd` into `buf` until a newline (`line`) or EOF, or raise TimeoutError at `deadline`."""
    while not (line and b"\n" in buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("load generator did not answer in time")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            if line:
                raise RuntimeError("load generator exited before it was ready")
            return
        buf += chunk


def drive(
    server: Server, spec: LoadSpec, *, generators: int = 1, sample_s: float = 0.1, probe: Probe | None = None
) -> PointRun:
    """Run `generators` processes (the rate split among them, seeds apart) against `server`.

    Each generator opens its connections, says "ready", and all start the schedule at one shared instant,
    so their start-up time is neither in the schedule nor in the latencies. `probe()` is sampled meanwhile.
    """
    bound_s = 30.0 + spec.seconds + spec.drain_s + 15.0
    procs: list[OwnedProcess] = []
    errs: list[IO[bytes]] = []
    sampler = _Sampler(server.base_url, sample_s, bound_s + 30.0, probe, workers=server.workers)
    groups = {"server": server.proc.pid, **server.companions}
    try:
        _start_generators(spec, generators, procs, errs)
        outs = _await_ready(procs, errs)
        sampler.start()
        start_at = time.monotonic() + 0.2
        before = _CpuMarks.take(groups)
        for proc in procs:
            assert proc.proc.stdin is not None
            proc.proc.stdin.write(f"go {start_at!r}\n".encode())
            proc.proc.stdin.flush()
        parts = _collect(procs, outs=outs, errs=errs, done_by=start_at + bound_s)
        after = _CpuMarks.take(groups)
    finally:
        sampler.halt.set()
        for proc in procs:
            proc.stop()
        for f in errs:
            f.close()
        if sampler.is_alive():
            sampler.join(timeout=10.0)
    load = LoadResult.merge(parts)
    span = max(time.monotonic() - start_at, 1e-3)
    gen_cpu = sum(p.cpu_s for p in parts)
    # Whatever the machine used beyond our server, its companions, this process and the generators.
    other = max((after.busy - before.busy) - (after.own - before.own) - gen_cpu, 0.0)
    cores = {name: (after.groups[name] - before.groups[name]) / span for name in groups}
    cores["generator"] = gen_cpu / span
    cores["harness"] = (after.harness - before.harness) / span
    return PointRun(
        load=load,
        samples=sampler.samples,
        other_cpu=other / span,
        steal=(after.steal - before.steal) / span,
        rq_wait_s=(after.rq_wait - before.rq_wait) + load.rq_wait_s,
        process_cpu=cores,
        probes=sampler.probes,
    )


def _start_generators(
    spec: LoadSpec, generators: int, procs: list[OwnedProcess], errs: list[IO[bytes]]
) -> None:
    """Start the generator processes, appending each (and its stderr file) as it starts, so that the
    caller's cleanup reaches every one started even when a later one fails to."""
    for j in range(generators):
        part = dataclasses.replace(
            spec,
            rate=spec.rate / generators,
            seed=spec.seed + 1_000 * j,
            prewarm=max(spec.prewarm // generators, 1),
            handshake=True,
        )
        errs.append(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the caller
        procs.append(
            OwnedProcess(
                [sys.executable, "-c", LOADGEN, part.to_json()],
                env=child_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errs[-1],
            )
        )


def _await_ready(procs: list[OwnedProcess], errs: list[IO[bytes]]) -> list[bytearray]:
    """Wait for each generator's "ready" line; returns what was read of each generator's output so far."""
    outs = [bytearray() for _ in procs]
    ready_by = time.monotonic() + 60.0
    for proc, out, err in zip(procs, outs, errs, strict=True):
        assert proc.proc.stdout is not None
        try:
            _read_until(proc.proc.stdout.fileno(), out, ready_by, line=True)
        except RuntimeError:
            tail = _tail(err)
            raise RuntimeError(f"load generator {proc.pid} exited before it was ready: {tail}") from None
    return outs


def _collect(
    procs: list[OwnedProcess], *, outs: list[bytearray], errs: list[IO[bytes]], done_by: float
) -> list[LoadResult]:
    """Each generator's result, read to its end (after the "ready" line) once it has exited."""
    parts = []
    for proc, out, err in zip(procs, outs, errs, strict=True):
        assert proc.proc.stdout is not None
        _read_until(proc.proc.stdout.fileno(), out, done_by, line=False)
        proc.proc.wait(timeout=max(done_by - time.monotonic(), 1.0))
        if proc.proc.returncode != 0:
            raise RuntimeError(f"load generator {proc.pid} failed: {_tail(err)}")
        parts.append(LoadResult.from_json(out.split(b"\n", 1)[1].decode()))
    return parts


def _tail(err: IO[bytes]) -> str:
    """The end of a generator's stderr file."""
    err.seek(0)
    return err.read().decode(errors="replace")[-2000:]


@dataclass(slots=True, frozen=True)
class _CpuMarks:
    """CPU counters read at one instant, for the machine's CPU left to other processes over a point."""

    busy: float  # the machine's busy CPU seconds
    steal: float  # the machine's steal seconds
    own: float  # CPU seconds of our process groups and of this process
    rq_wait: float  # the server's threads' run-queue wait (s)
    groups: dict[str, float]  # CPU seconds of each of our process groups (the server, its companions)
    harness: float  # this process's CPU seconds

    @staticmethod
    def take(groups: dict[str, int]) -> _CpuMarks:
        busy, steal = machine_cpu()[:2]
        cpu = {name: group_cpu(pgid) for name, pgid in groups.items()}
        harness = time.process_time()
        own = sum(cpu.values()) + harness
        return _CpuMarks(busy, steal, own, runqueue_wait_s(_group_pids(groups["server"])), cpu, harness)


# Batch means: the steady window's requests, in schedule order, cut into this many consecutive batches.
CI_BATCHES = 10
_T_975 = {4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}  # Student t, 97.5%, by dof


def latency_ci(lat: np.ndarray, batches: int = CI_BATCHES) -> tuple[float | None, tuple[float, float] | None]:
    """95% confidence of a point's mean and p99 from its own requests (latencies in schedule order).

    Consecutive requests wait in the same queue, so their latencies are correlated and the i.i.d. formulas
    understate the uncertainty. Batch means: the requests are cut into `batches` consecutive batches, each
    batch's mean (and fraction of requests above the whole window's p99) is one observation, and their
    spread gives the standard error (Student t with batches - 1 degrees of freedom).

    Returns (half-width of the mean's interval in ms, (low, high) of the p99's interval in ms). The p99
    interval inverts the empirical distribution: the quantiles at 0.99 -+ t x SE of the exceedance fraction,
    that SE at least the binomial one sqrt(0.01 x 0.99 / n) (a positively correlated series is not less
    uncertain than an independent one); past the largest latency the interval ends at it. None when there
    are too few requests (fewer than 20 per batch).
    """
    lat = np.asarray(lat, dtype=float)
    n = len(lat)
    k = min(max(batches, 5), 10)
    if n < 20 * k:
        return None, None
    t = _T_975[k - 1]
    parts = np.array_split(lat, k)
    means = np.array([b.mean() for b in parts])
    mean_hw = float(t * means.std(ddof=1) / math.sqrt(k))
    q99 = float(np.percentile(lat, 99))
    frac = np.array([float((b > q99).mean()) for b in parts])
    se_p = max(float(frac.std(ddof=1) / math.sqrt(k)), math.sqrt(0.01 * 0.99 / n))
    lo_q = max(99.0 - 100.0 * t * se_p, 0.0)
    hi_q = min(99.0 + 100.0 * t * se_p, 100.0)
    return mean_hw, (float(np.percentile(lat, lo_q)), float(np.percentile(lat, hi_q)))


def _pct(a: np.ndarray, q: float) -> float | None:
    return float(np.percentile(a, q)) if len(a) else None


def _mean(a: np.ndarray) -> float | None:
    return float(a.mean()) if len(a) else None


def disturbance_score(run: PointRun) -> float:
    """How disturbed a run was: the largest of other processes' CPU, hypervisor steal and the generator's
    send lag p99, each over its limit (above 1: disturbed). A scheduling hiccup on a 2-core machine delays a
    whole burst of sends, and a point the generator paced is not a measurement."""
    sent = run.load.sent
    ok = ~np.isnan(sent)
    if not ok.any():
        return math.inf
    lag_ms = (sent[ok] - run.load.sched[ok]) * 1000.0
    return max(
        run.other_cpu / MAX_OTHER_CPU,
        run.steal / MAX_STEAL,
        float(np.percentile(lag_ms, 99)) / MAX_LAG_P99_MS,
    )


def disturbed(run: PointRun) -> bool:
    """Worth running again (see `disturbance_score`)."""
    return disturbance_score(run) > 1.0


def analyze(
    run: PointRun,
    *,
    rate: float,
    warmup_s: float,
    class_names: list[str],
    attempts: int = 1,
    passes: float = 0.0,
    workers: int = 1,
    idle_cpu: float = 0.0,
) -> Measured:
    """The steady-window measurement of one point: what the client saw, and the server's own statistics."""
    sched = run.load.sched
    end = float(sched[-1]) if len(sched) else warmup_s
    w0, w1 = warmup_s, max(end, warmup_s + 1e-3)
    client = _client_side(run.load, w0, w1, class_names)
    served_rps = client.pop("served_rps")
    answered_rps = client.pop("answered_rps")
    t_lo, t_hi = run.load.t0 + w0, run.load.t0 + w1  # the server's samples, on the shared monotonic clock
    samples = [s for s in run.samples if t_lo <= s["t"] <= t_hi]
    server = _server_side(samples, t_lo, t_hi, served_rps=served_rps, answered_rps=answered_rps,
                          passes=passes, workers=workers, idle_cpu=idle_cpu)
    return Measured(
        **client,
        **server,
        achieved_rps=served_rps,
        db_activity=_db_activity(run.probes, t_lo, t_hi),
        process_cpu={k: round(v, 4) for k, v in run.process_cpu.items()},
        other_cpu=run.other_cpu,
        runqueue_wait_ms_per_request=run.rq_wait_s * 1000.0 / max(len(sched), 1),
        steal=run.steal,
        attempts=attempts,
    )


def _client_side(load: LoadResult, w0: float, w1: float, class_names: list[str]) -> dict[str, Any]:
    """Latencies, outcomes and the generator's pacing of the requests scheduled in [w0, w1]."""
    sched = load.sched
    win = (sched >= w0) & (sched <= w1)
    span = w1 - w0
    n = int(win.sum())
    ok = win & (load.status == 200)
    shed = win & (load.status == 503)
    lat = (load.done[ok] - sched[ok]) * 1000.0
    mean_ci, p99_ci = latency_ci(lat[np.argsort(sched[ok], kind="stable")])
    sent = load.sent[win]
    lag = (sent[~np.isnan(sent)] - sched[win][~np.isnan(sent)]) * 1000.0
    unsent = int(np.isnan(sent).sum())
    done_in = (load.done >= w0) & (load.done <= w1)
    per_class = {}
    for c, name in enumerate(class_names):
        lc = (load.done[ok & (load.cls == c)] - sched[ok & (load.cls == c)]) * 1000.0
        per_class[name] = ClassLatency(
            count=len(lc), mean_ms=_mean(lc), p50_ms=_pct(lc, 50), p95_ms=_pct(lc, 95), p99_ms=_pct(lc, 99)
        )
    gen_cpu = load.cpu_s / max(load.send_wall_s, 1e-3)
    lag_p99 = _pct(lag, 99) or 0.0
    reasons = []
    if unsent:
        reasons.append(f"{unsent} requests not sent")
    if lag_p99 > MAX_LAG_P99_MS:
        reasons.append(f"send lag p99 {lag_p99:.1f} ms > {MAX_LAG_P99_MS} ms")
    if gen_cpu > MAX_GENERATOR_CPU:
        reasons.append(f"generator CPU {gen_cpu:.2f} cores > {MAX_GENERATOR_CPU}")
    return {
        "served_rps": float((done_in & (load.status == 200)).sum()) / span,
        "answered_rps": float(done_in.sum()) / span,
        "offered_rps": n / span,
        "sent_rps": float((~np.isnan(sent)).sum()) / span,
        "window_s": span,
        "count": n,
        "errors": n - int(ok.sum()) - int(shed.sum()),
        "shed": int(shed.sum()),
        "mean_ms": _mean(lat),
        "p50_ms": _pct(lat, 50),
        "p95_ms": _pct(lat, 95),
        "p99_ms": _pct(lat, 99),
        "mean_ci_ms": mean_ci,
        "p99_ci_ms": p99_ci,
        "per_class": per_class,
        "send_lag_mean_ms": _mean(lag) or 0.0,
        "send_lag_p99_ms": lag_p99,
        "generator_cpu": gen_cpu,
        "generator_bound": bool(reasons),
        "generator_reason": "; ".join(reasons),
    }


def _server_side(
    samples: list[dict[str, Any]],
    t_lo: float,
    t_hi: float,
    *,
    served_rps: float,
    answered_rps: float,
    passes: float,
    workers: int,
    idle_cpu: float,
) -> dict[str, Any]:
    """The server's sampled statistics in the window: the limiter, the pools, its CPU and its GC."""
    borrowed = np.array([s["borrowed_tokens"] for s in samples], dtype=float)
    waiting = np.array([s["tasks_waiting"] for s in samples], dtype=float)
    total = samples[0]["total_tokens"] if samples else None
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        by_pid.setdefault(int(s["pid"]), []).append(s)
    cpu_rates = [
        (v[-1]["cpu_s"] - v[0]["cpu_s"]) / (v[-1]["t"] - v[0]["t"])
        for v in by_pid.values()
        if len(v) > 1 and v[-1]["t"] > v[0]["t"]
    ]
    counts = _count_deltas(samples)
    pools: dict[str, dict[str, float]] = {}
    if samples:
        for name in samples[0]["pools"]:
            in_use = [s["pools"][name]["in_use"] for s in samples]
            wait = [s["pools"][name]["waiting"] for s in samples]
            steps = counts.get(f"{name}.n", 0.0)
            if max(in_use) > 0 or max(wait) > 0 or steps > 0:
                pools[name] = {"in_use_mean": float(np.mean(in_use)), "waiting_mean": float(np.mean(wait))}
            if steps > 0:
                pools[name].update(
                    steps=steps,
                    wait_ms=counts.get(f"{name}.wait_ms", 0.0) / steps,
                    hold_ms=counts.get(f"{name}.hold_ms", 0.0) / steps,
                    asked_ms=counts.get(f"{name}.asked_ms", 0.0) / steps,
                )
    failures = {k.removeprefix("fail."): int(v) for k, v in counts.items() if k.startswith("fail.") and v > 0}
    bmean = _mean(borrowed)
    gc_full, gc_max, gc_share = gc_in_window(samples, t_lo, t_hi)
    last = {int(s["pid"]): s.get("burn_factor") for s in samples}  # the last sample of each worker
    factors = [float(f) for f in last.values() if f is not None]
    server_cpu = float(np.mean(cpu_rates)) if cpu_rates else math.nan
    return {
        "burn_factor": float(np.mean(factors)) if factors else None,
        "server_cpu": server_cpu,
        # Per answered request: with admission control the 503s' small cost is in it.
        "cpu_per_request_ms": (
            max(server_cpu - idle_cpu, 0.0) * workers / answered_rps * 1000.0
            if cpu_rates and answered_rps > 0
            else None
        ),
        "tokens_borrowed_mean": bmean,
        "token_hold_ms": (
            bmean / (served_rps / workers * passes) * 1000.0
            if bmean is not None and passes > 0 and served_rps > 0
            else None
        ),
        "token_utilization": (bmean / total) if (bmean is not None and total) else None,
        "tasks_waiting_mean": _mean(waiting),
        "tasks_waiting_max": int(waiting.max()) if len(waiting) else None,
        "pools": pools,
        "failures": failures,
        "failure_examples": {k: v for s in samples for k, v in s.get("errors", {}).items() if k in failures},
        "samples": len(samples),
        "timeline": _timeline(samples, t_lo),
        "gc_full_pauses": gc_full,
        "gc_full_pause_max_ms": gc_max,
        "gc_pause_share": gc_share,
    }


def _timeline(samples: list[dict[str, Any]], t_lo: float) -> list[tuple[float, float, float, float]]:
    """Per 1-second bin from `t_lo`: completions and failures per second (counter deltas between a worker's
    consecutive samples, put in the bin of the later one) and the tokens borrowed (mean over the bin)."""
    bins: dict[int, list[float]] = {}
    prev: dict[int, dict[str, Any]] = {}
    for s in samples:
        pid = int(s["pid"])
        b = bins.setdefault(int(s["t"] - t_lo), [0.0, 0.0, 0.0, 0.0])
        b[2] += float(s["borrowed_tokens"])
        b[3] += 1.0
        before = prev.get(pid)
        prev[pid] = s
        if before is None:
            continue
        done = fail = 0.0
        for key, value in s.get("counts", {}).items():
            delta = float(value) - float(before.get("counts", {}).get(key, 0.0))
            if key.startswith("done."):
                done += delta
            elif key.startswith("fail."):
                fail += delta
        b[0] += done
        b[1] += fail
    return [(float(k), done, fail, tokens / n) for k, (done, fail, tokens, n) in sorted(bins.items()) if n > 0]


def _count_deltas(samples: list[dict[str, Any]]) -> dict[str, float]:
    """What each of the server's counters added over the samples, summed over the worker processes."""
    first: dict[int, dict[str, float]] = {}
    last: dict[int, dict[str, float]] = {}
    for s in samples:
        pid = int(s["pid"])
        first.setdefault(pid, s.get("counts", {}))
        last[pid] = s.get("counts", {})
    out: dict[str, float] = {}
    for pid, end in last.items():
        start = first[pid]
        for key, value in end.items():
            out[key] = out.get(key, 0.0) + float(value) - float(start.get(key, 0.0))
    return out


def _db_activity(probes: list[dict[str, Any]], t_lo: float, t_hi: float) -> dict[str, float]:
    """Mean count of the server's connections by state over the probes taken in the window."""
    window = [p for p in probes if t_lo <= p["t"] <= t_hi and "activity" in p]
    if not window:
        return {}
    states = {state for p in window for state in p["activity"]}
    return {state: round(sum(p["activity"].get(state, 0) for p in window) / len(window), 3) for state in sorted(states)}


def gc_in_window(
    samples: list[dict[str, Any]], t_lo: float, t_hi: float
) -> tuple[int | None, float | None, float | None]:
    """Full collections that ended inside [t_lo, t_hi], their longest pause, and the GC time share.

    One worker's samples at a time (collections are per process): pauses are deduplicated by their end
    time, the share is the growth of the collector's total time over the sampled span.
    """
    with_gc = [s for s in samples if "gc" in s]
    if not with_gc:
        return None, None, None
    pauses: dict[tuple[int, float], float] = {}
    shares = []
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for s in with_gc:
        by_pid.setdefault(int(s["pid"]), []).append(s)
        for end, ms in s["gc"]["full"]:
            if t_lo <= end <= t_hi:
                pauses[(int(s["pid"]), float(end))] = float(ms)
    for v in by_pid.values():
        span = v[-1]["t"] - v[0]["t"]
        if len(v) > 1 and span > 0:
            shares.append((sum(v[-1]["gc"]["ms"]) - sum(v[0]["gc"]["ms"])) / 1000.0 / span)
    return len(pauses), max(pauses.values(), default=0.0), (float(np.mean(shares)) if shares else None)
