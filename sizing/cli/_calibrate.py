"""`python -m sizing calibrate PROFILE.json [MORE.json ...]`: probe profiles become a scenario on stdout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sizing.cli._common import EXIT_OK, emit, read_text, run_guarded

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="turn probe profiles (sizing_probe's /_sizing/profile) into a scenario",
        description="Read profiles taken by sizing_probe from the workers of a running service and print the "
        "scenario they describe (JSON, ready for evaluate and recommend). Warnings go to stderr. Exit 0 on a "
        "scenario, 2 on bad input.",
    )
    p.add_argument("files", nargs="+", metavar="PROFILE", help="profile JSON files (one per worker or window)")
    p.add_argument("--rps", type=float, default=None, help="the service's mean rate (default: as measured)")
    p.add_argument("--peak-factor", type=float, default=1.0, dest="peak_factor",
                   help="the scenario's peak factor (default: %(default)s)")
    p.add_argument("--provenance", type=Path, default=None, metavar="FILE",
                   help="write, per field, whether it was measured, estimated (how) or left at its default")
    p.set_defaults(func=lambda a: run_guarded(_calibrate, a))


def _calibrate(args: argparse.Namespace) -> int:
    from sizing.calibration import calibrate

    texts = [read_text(f) for f in args.files]
    result = calibrate(texts, rps=args.rps, peak_factor=args.peak_factor)
    for line in result.warnings:
        print(f"warning: {line}", file=sys.stderr)
    if args.provenance is not None:
        args.provenance.write_text(json.dumps(result.provenance, indent=2) + "\n", encoding="utf-8")
    emit(result.scenario.model_dump_json(indent=2))
    return EXIT_OK
