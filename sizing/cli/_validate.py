"""`python -m sizing validate FILE`: the scenario on a real FastAPI server, measured against predicted."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sizing.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    add_format_option,
    emit,
    load_scenario,
    read_text,
    run_guarded,
)
from sizing.scenario import InputError

if TYPE_CHECKING:
    from sizing.validation import ValidationReport

__all__ = ["check_args", "register"]

_MAX_SECONDS = 600.0
_EXTRA = "python -m sizing validate needs the validate extra: pip install 'fastapi-sizing[validate]'"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="run the scenario on a real uvicorn server (127.0.0.1) against the model and simulator",
        description="Start the emulating FastAPI app under uvicorn on 127.0.0.1, calibrate once, drive each "
        "load point with an open-loop Poisson generator, and print measured against predicted latency. "
        "Exit 0 when every comparison is within its band (mean 10%%, p99 20%%, max_rps 10%%) or was not "
        "compared, 1 when one misses, 2 on bad input, 3 when the model, the simulator or the harness failed.",
    )
    p.add_argument("file", metavar="FILE|-", help="scenario JSON file, or - for stdin")
    p.add_argument(
        "--points",
        default="0.5,0.8,1.2",
        help="fractions of the reference stage's capacity, or rates like 640rps (default: %(default)s)",
    )
    p.add_argument(
        "--stage",
        default="bottleneck",
        help="stage the fractions refer to: bottleneck, thread_tokens, event_loop, cpu, ... "
        "(default: %(default)s)",
    )
    p.add_argument("--seconds", type=float, default=20.0, help="schedule length per point (default: %(default)s)")
    p.add_argument("--max-requests", type=int, default=100_000, help="cap per point (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seed of arrivals and service times (default: %(default)s)")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="repeats of a point disturbed by other processes' CPU, hypervisor steal or a late load generator "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--runtime",
        choices=("scenario", "measured"),
        default="scenario",
        help="token hand-off the predictions use: the scenario's or the measured one (default: %(default)s)",
    )
    p.add_argument(
        "--overload",
        choices=("shed", "queue"),
        default="shed",
        help="past capacity: answer 503 beyond a bounded backlog, as --limit-concurrency would (the rate "
        "measured is the capacity), or let the backlog grow for the whole point (default: %(default)s)",
    )
    p.add_argument(
        "--backend",
        choices=("emulated", "postgres"),
        default="emulated",
        help="what stands behind the server: semaphores and sleeps, or a real PostgreSQL (a private one from "
        "the Debian postgresql package, or --database-url) reached through SQLAlchemy, psycopg_pool or "
        "asyncpg, and httpx to an upstream process (default: %(default)s)",
    )
    p.add_argument(
        "--db-pool",
        choices=("sqlalchemy", "psycopg_pool", "asyncpg"),
        default="sqlalchemy",
        help="with --backend postgres: SQLAlchemy's pool (psycopg for def code, asyncpg for async def), a "
        "psycopg_pool ConnectionPool (def code) or an asyncpg pool (async def code) (default: %(default)s)",
    )
    p.add_argument(
        "--database-url",
        metavar="URL",
        help="with --backend postgres: a postgresql:// server you run instead of a private one; only a schema "
        "of its own is created there, and dropped at the end",
    )
    p.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to its own CPUs (as many as workers_per_host) and everything else the run starts "
        "(PostgreSQL, the upstream, the load generators) to the others",
    )
    p.add_argument("--no-ceiling", action="store_true", help="skip measuring the generator's ceiling")
    p.add_argument(
        "--repredict",
        action="store_true",
        help="FILE is a stored report (--out): recompute its predictions and verdicts with this version's "
        "model and simulator, without measuring again",
    )
    p.add_argument("--out", help="write the raw results (JSON, format sizing-validate/2) to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_validate, a))


def check_args(args: argparse.Namespace) -> None:
    """Every bad option at once, one line each (InputError), before anything is started."""
    from sizing.validation import parse_points

    problems = []
    try:
        parse_points(args.points)
    except ValueError as exc:
        problems.append(str(exc))
    if not (math.isfinite(args.seconds) and 1.0 <= args.seconds <= _MAX_SECONDS):
        problems.append(f"--seconds: must be in [1, {_MAX_SECONDS:g}], got {args.seconds}")
    if not (100 <= args.max_requests <= 10_000_000):
        problems.append(f"--max-requests: must be in [100, 10000000], got {args.max_requests}")
    if not (0 <= args.retries <= 10):
        problems.append(f"--retries: must be in [0, 10], got {args.retries}")
    if not (0 <= args.seed < 2**32):
        problems.append(f"--seed: must be in [0, 2^32), got {args.seed}")
    if args.database_url is not None and args.backend != "postgres":
        problems.append("--database-url: applies to --backend postgres only")
    if args.out is not None:
        parent = Path(args.out).resolve().parent
        if not parent.is_dir():
            problems.append(f"--out: directory {str(parent)!r} does not exist")
        elif not os.access(parent, os.W_OK):
            problems.append(f"--out: directory {str(parent)!r} is not writable")
    if problems:
        raise InputError(problems)


def _validate(args: argparse.Namespace) -> int:
    try:
        import sizing.validation as validation
    except ImportError as exc:
        print(f"error: {_EXTRA} ({exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    check_args(args)
    if args.repredict:
        report = _stored(validation, args.file)
        return _finish(validation.repredict(report, seed=args.seed), args)
    scenario = load_scenario(args.file)
    try:
        validation.check_scenario(scenario)
        validation.check_backend(scenario, args.backend, args.db_pool, args.database_url)
        validation.resolve_points(scenario, validation.parse_points(args.points), args.stage)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    cpus, workers = len(os.sched_getaffinity(0)), scenario.deployment.workers_per_host
    if args.pin and cpus <= workers:
        raise InputError(
            f"--pin: needs more CPUs than the scenario's workers_per_host ({workers}), this process may use "
            f"{cpus}; run without --pin"
        )
    if args.backend == "postgres" and args.database_url is None and validation.find_bindir() is None:
        raise InputError(
            "--backend postgres: PostgreSQL is not installed (no initdb/postgres found); install Debian's "
            "postgresql package, or pass --database-url postgresql://... for a server you run"
        )
    name = "stdin" if args.file == "-" else Path(args.file).stem
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        report = validation.validate(
            scenario,
            args.points,
            seconds=args.seconds,
            stage=args.stage,
            seed=args.seed,
            max_requests=args.max_requests,
            ceiling=not args.no_ceiling,
            runtime=args.runtime,
            retries=args.retries,
            name=name,
            overload=args.overload,
            backend=args.backend,
            db_pool=args.db_pool,
            database_url=args.database_url,
            pin=args.pin,
            progress=progress,
        )
    except Exception as exc:  # the harness failed after the input was accepted: exit 3, not a traceback
        print(f"error: the validation run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return _finish(report, args)


def _stored(validation: Any, source: str) -> ValidationReport:
    from pydantic import ValidationError

    try:
        report: ValidationReport = validation.ValidationReport.model_validate_json(read_text(source))
    except ValidationError as exc:
        from sizing.scenario import error_lines

        raise InputError([f"FILE: not a validation report ({line})" for line in error_lines(exc)[:5]]) from None
    return report


def _finish(report: ValidationReport, args: argparse.Namespace) -> int:
    if args.out is not None:
        Path(args.out).write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if args.format == "json":
        text = report.model_dump_json(indent=2)
    elif args.format == "markdown":
        text = report.to_markdown()
    else:
        text = report.to_table()
    emit(text.rstrip("\n"))
    for line in report.errors():
        print(f"error: {line}", file=sys.stderr)
    return report.exit_code()
