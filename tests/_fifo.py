"""A small seeded FIFO G/G/c simulation, used by the tests as an independent reference.

Customers arrive with i.i.d. gamma inter-arrival times (squared coefficient of variation ``ca2``;
deterministic for 0) and bring i.i.d. gamma service times (``cs2``; deterministic for 0). Each
customer, in arrival order, takes the server that frees up first (FIFO, work-conserving): its wait
is max(0, earliest free time - arrival time). For one server the Lindley recursion is evaluated in
closed form with a running minimum; for c > 1 one Python loop runs over customers while numpy runs
over many independent "lanes" (configurations x replications) at once, so a whole grid of
configurations costs the same Python overhead as one.

Nothing here imports :mod:`sizing`: it is a reference, not a consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Config:
    """One queue: ``servers`` identical servers, utilisation rho = lam * s / c."""

    servers: int
    rho: float
    ca2: float
    cs2: float
    mean_service: float = 1.0

    @property
    def arrival_rate(self) -> float:
        return self.rho * self.servers / self.mean_service


def _gamma_draws(
    rng: np.random.Generator, mean: NDArray[np.float64], cv2: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """n draws per lane (rows) of gamma variables with the lane's mean and squared CV."""
    out = np.empty((mean.size, n))
    for i in range(mean.size):
        if cv2[i] == 0.0:
            out[i] = mean[i]
        else:
            out[i] = rng.gamma(1.0 / cv2[i], mean[i] * cv2[i], size=n)
    return out


@dataclass(frozen=True)
class SimResult:
    """Per-configuration statistics of the customers kept after the warm-up, pooled over replications.

    ``mean_wait`` and ``p_wait`` use every kept customer; ``wait_sample`` and ``service_sample``
    keep every ``thin``-th customer (for quantiles), shape (configs, samples).
    """

    mean_wait: NDArray[np.float64]
    p_wait: NDArray[np.float64]
    wait_sample: NDArray[np.float64]
    service_sample: NDArray[np.float64]


def simulate(
    configs: list[Config], customers: int, seed: int, reps: int = 1, thin: int = 1, warmup: float = 0.1
) -> SimResult:
    """Simulate each configuration ``reps`` times with ``customers`` arrivals each, from empty.

    The first ``warmup`` fraction of each replication is discarded.
    """
    rng = np.random.default_rng(seed)
    lanes_cf = [cf for cf in configs for _ in range(reps)]
    lanes = len(lanes_cf)
    keep = int(customers * warmup)
    lam = np.array([cf.arrival_rate for cf in lanes_cf])
    s = np.array([cf.mean_service for cf in lanes_cf])
    ca2 = np.array([cf.ca2 for cf in lanes_cf])
    cs2 = np.array([cf.cs2 for cf in lanes_cf])
    servers = np.array([cf.servers for cf in lanes_cf])
    n_kept = customers - keep
    sum_w = np.zeros(lanes)
    pos_w = np.zeros(lanes)
    samples_w: list[NDArray[np.float64]] = []
    samples_s: list[NDArray[np.float64]] = []

    def record(w: NDArray[np.float64], sv: NDArray[np.float64], first: int) -> None:
        """w, sv: (chunk, lanes) waits and services of customers first, first + 1, ..."""
        n = np.arange(first, first + w.shape[0])
        kept = n >= keep
        wk = w[kept]
        sum_w[:] += wk.sum(axis=0)
        pos_w[:] += (wk > 0.0).sum(axis=0)
        pick = kept & (n % thin == 0)
        samples_w.append(w[pick])
        samples_s.append(sv[pick])

    chunk = 4096
    single = servers == 1
    if not (single.all() or (~single).all()):
        raise ValueError("simulate one server count class at a time (all c == 1 or all c > 1)")
    if single.all():
        # Lindley: W_n = U_n - min(0, min_{k<=n} U_k), U_n = sum_{i<n} (S_i - A_{i+1}).
        inter = _gamma_draws(rng, 1.0 / lam, ca2, customers).T
        serv = _gamma_draws(rng, s, cs2, customers).T
        u = np.zeros((customers, lanes))
        np.cumsum(serv[:-1] - inter[1:], axis=0, out=u[1:])
        waits = u - np.minimum(np.minimum.accumulate(u, axis=0), 0.0)
        record(waits, serv, 0)
    else:
        cmax = int(servers.max())
        # free[j, lane]: time server j of the lane next becomes free; absent servers never do
        free = np.zeros((cmax, lanes))
        free[np.arange(cmax)[:, None] >= servers[None, :]] = np.inf
        flat = free.reshape(-1)
        base = np.arange(lanes)
        start = np.empty(lanes)
        clock = np.zeros(lanes)
        for first in range(0, customers, chunk):
            m = min(chunk, customers - first)
            inter = _gamma_draws(rng, 1.0 / lam, ca2, m).T
            serv = np.ascontiguousarray(_gamma_draws(rng, s, cs2, m).T)
            arr = np.cumsum(inter, axis=0)
            arr += clock
            clock = arr[-1].copy()
            w = np.empty((m, lanes))
            for n in range(m):
                idx = free.argmin(axis=0)
                idx *= lanes
                idx += base
                t = arr[n]
                np.maximum(flat.take(idx), t, out=start)
                np.subtract(start, t, out=w[n])
                start += serv[n]
                flat.put(idx, start)
            record(w, serv, first)

    k = len(configs)
    ws = np.concatenate(samples_w, axis=0)  # (samples per lane, lanes)
    ss = np.concatenate(samples_s, axis=0)
    per = ws.shape[0]
    return SimResult(
        mean_wait=sum_w.reshape(k, reps).sum(axis=1) / (n_kept * reps),
        p_wait=pos_w.reshape(k, reps).sum(axis=1) / (n_kept * reps),
        wait_sample=ws.T.reshape(k, reps * per),
        service_sample=ss.T.reshape(k, reps * per),
    )
