"""The FastAPI worker model: a scenario becomes stages, latencies, findings and a recommendation.

Per worker process the peak rate is split evenly over hosts x workers_per_host; five queues are solved in
order (the core, the DB and httpx pools, the event loop, the thread tokens), each request's latency is
the convolution of its waits and service times, and the overall latency is the mixture by share.

Evaluate and size
    evaluate, recommend, latency_at, stages_at, max_rps, missed_targets
The stall of sessions held across token passes
    stall_time_s, stall_rps, stall_burst, FLEET_HORIZON_S
Results (JSON out, a public format like the scenario)
    Evaluation, Recommendation, Stage, Latency, Finding, Setting,
    StageName, FindingCode, FINDING_CODES, Severity
Reports and config
    evaluation_table, evaluation_markdown, recommendation_table, recommendation_markdown,
    snippets_for, PYTHON_SNIPPETS, SHELL_SNIPPETS
Building blocks (public so each law can be checked against an independent reference: mpmath, closed
forms, a simulation; not needed to use the tool)
    solve_worker, WorkerSolution (the stages at one rate), LatencyDistribution, Wait, Stall, Service
    (the latency algebra), cpu_segments, busy_others_share, livelock_rps (the core as CPython shares it)

>>> from sizing.model import evaluate
>>> from sizing.scenario import preset
>>> ev = evaluate(preset("sync SQLAlchemy CRUD"))
>>> ev.bottleneck, round(ev.max_rps)
('thread_tokens', 2173)
"""

from __future__ import annotations

from sizing._base import publish
from sizing.model._cpu import busy_others_share, cpu_segments, livelock_rps
from sizing.model._evaluate import evaluate, latency_at, max_rps, missed_targets, stages_at
from sizing.model._latency import LatencyDistribution, Service, Stall, Wait
from sizing.model._recommend import recommend
from sizing.model._results import (
    FINDING_CODES,
    Evaluation,
    Finding,
    FindingCode,
    Latency,
    Recommendation,
    Setting,
    Severity,
    Stage,
    StageName,
)
from sizing.model._snippets import PYTHON_SNIPPETS, SHELL_SNIPPETS, snippets_for
from sizing.model._stall import FLEET_HORIZON_S, stall_burst, stall_rps, stall_time_s
from sizing.model._text import (
    evaluation_markdown,
    evaluation_table,
    recommendation_markdown,
    recommendation_table,
)
from sizing.model._worker import WorkerSolution, solve_worker

__all__ = [
    "FINDING_CODES",
    "FLEET_HORIZON_S",
    "PYTHON_SNIPPETS",
    "SHELL_SNIPPETS",
    "Evaluation",
    "Finding",
    "FindingCode",
    "Latency",
    "LatencyDistribution",
    "Recommendation",
    "Service",
    "Setting",
    "Severity",
    "Stage",
    "StageName",
    "Stall",
    "Wait",
    "WorkerSolution",
    "busy_others_share",
    "cpu_segments",
    "evaluate",
    "evaluation_markdown",
    "evaluation_table",
    "latency_at",
    "livelock_rps",
    "max_rps",
    "missed_targets",
    "recommend",
    "recommendation_markdown",
    "recommendation_table",
    "snippets_for",
    "solve_worker",
    "stages_at",
    "stall_burst",
    "stall_rps",
    "stall_time_s",
]

publish(__name__, globals(), __all__)
