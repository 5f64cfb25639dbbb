"""`python -m sizing validate FILE`: the scenario on a real FastAPI server, measured against predicted."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from sizing._cli_common import (
    EXIT_OK,
    EXIT_TARGET_MISSED,
    InputError,
    add_format_option,
    load_scenario,
    run_guarded,
)

__all__ = ["check_args", "register"]

_MAX_SECONDS = 600.0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="run the scenario on a real uvicorn server (127.0.0.1) against the model and simulator",
        description="Start the emulating FastAPI app under uvicorn on 127.0.0.1, calibrate once, drive each "
        "load point with an open-loop Poisson generator, and print measured against predicted latency. "
        "Exit 0 when every comparison is within its band (mean 10%, p99 20%, max_rps 10%) or has no "
        "prediction yet, 1 when one misses, 2 on bad input.",
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
    p.add_argument(
        "--seconds", type=float, default=20.0, help="schedule length per point (default: %(default)s)"
    )
    p.add_argument("--max-requests", type=int, default=100_000, help="cap per point (default: %(default)s)")
    p.add_argument(
        "--seed", type=int, default=1, help="seed of arrivals and service times (default: %(default)s)"
    )
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
    p.add_argument("--no-ceiling", action="store_true", help="skip measuring the generator's ceiling")
    p.add_argument("--out", help="write the raw results (JSON, format sizing-validate/1) to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_validate, a))


def check_args(args: argparse.Namespace) -> None:
    """Every bad option at once, one line each (InputError), before anything is started."""
    from sizing._realserver._plan import parse_points

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
    if args.out is not None:
        parent = Path(args.out).resolve().parent
        if not parent.is_dir():
            problems.append(f"--out: directory {str(parent)!r} does not exist")
        elif not os.access(parent, os.W_OK):
            problems.append(f"--out: directory {str(parent)!r} is not writable")
    if problems:
        raise InputError("\n".join(problems))


def _validate(args: argparse.Namespace) -> int:
    from sizing._realserver import validate
    from sizing._realserver._harness import check_scenario
    from sizing._realserver._plan import parse_points, resolve_points

    check_args(args)
    scenario = load_scenario(args.file)
    try:
        check_scenario(scenario)
        resolve_points(scenario, parse_points(args.points), args.stage)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    name = "stdin" if args.file == "-" else Path(args.file).stem
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    report = validate(
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
        progress=progress,
    )
    if args.out is not None:
        Path(args.out).write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    if args.format == "json":
        text = report.model_dump_json(indent=2)
    elif args.format == "markdown":
        text = report.to_markdown()
    else:
        text = report.to_table()
    sys.stdout.write(text.rstrip("\n") + "\n")
    return EXIT_TARGET_MISSED if report.misses() else EXIT_OK
