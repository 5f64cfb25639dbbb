"""The queueing core: pure numpy and scipy, no FastAPI words (reusable outside this tool).

Units are the caller's: a rate per time unit and times in that unit. Functions broadcast over arrays
where the formula allows it and return Python floats for scalar input. A public function validates its
arguments (TypeError for a wrong type, ValueError for a wrong value, naming the parameter); the private
functions behind it compute.

Erlang formulas
    erlang_b, erlang_c
Queues with infinite waiting room (results: QueueResult, with wait and response quantiles)
    mmc (exact M/M/c), ggc (G/G/c approximations; exactly mmc when both cv2 are 1)
Queues with finite room
    mmck (M/M/c/K), FiniteQueueResult
Staffing and Little's law
    min_servers, concurrency, poisson_pool_size
Wait tails (building blocks of the deployment model's latency distributions)
    lundberg_rate, wait_tail_shape

>>> from sizing.queueing import erlang_c, mmc
>>> erlang_c(10, 8.0)
0.4091801507964435
>>> mmc(80.0, 0.1, 10).wait_quantile(0.99)
0.18557852162834182
"""

from __future__ import annotations

from sizing._base import publish
from sizing.queueing._erlang import erlang_b, erlang_c
from sizing.queueing._ggc import ggc, lundberg_rate, wait_tail_shape
from sizing.queueing._little import concurrency, poisson_pool_size
from sizing.queueing._min_servers import min_servers
from sizing.queueing._mmc import mmc
from sizing.queueing._mmck import FiniteQueueResult, mmck
from sizing.queueing._result import QueueResult

__all__ = [
    "FiniteQueueResult",
    "QueueResult",
    "concurrency",
    "erlang_b",
    "erlang_c",
    "ggc",
    "lundberg_rate",
    "min_servers",
    "mmc",
    "mmck",
    "poisson_pool_size",
    "wait_tail_shape",
]

publish(__name__, globals(), __all__)
