"""Subcommands of the deployment model: recommend, evaluate, check, example, schema."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sizing._cli_common import (
    EXIT_OK,
    EXIT_TARGET_MISSED,
    add_format_option,
    load_scenario,
    run_guarded,
)
from sizing._model import evaluate
from sizing._presets import PRESETS, preset
from sizing._recommend import recommend
from sizing._report import (
    evaluation_markdown,
    evaluation_table,
    recommendation_markdown,
    recommendation_table,
)
from sizing._scenario import Scenario


def register(sub: Any) -> None:
    p = sub.add_parser("recommend", help="the smallest deployment meeting the targets at peak")
    p.add_argument("file", metavar="FILE|-", help="scenario JSON file, or - for stdin")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_recommend, a))

    p = sub.add_parser("evaluate", help="what today's deployment does at peak")
    p.add_argument("file", metavar="FILE|-")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_evaluate, a))

    p = sub.add_parser("check", help="exit 1 when today's deployment misses a target (for CI gates)")
    p.add_argument("file", metavar="FILE|-")
    add_format_option(p)
    p.set_defaults(func=lambda a: run_guarded(_check, a))

    p = sub.add_parser("example", help="print a complete scenario to start from")
    p.add_argument("--preset", choices=sorted(PRESETS), default="mixed service")
    p.set_defaults(func=lambda a: run_guarded(_example, a))

    p = sub.add_parser("schema", help="print the scenario's JSON Schema")
    p.set_defaults(func=lambda a: run_guarded(_schema, a))


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _recommend(args: argparse.Namespace) -> int:
    rec = recommend(load_scenario(args.file))
    if args.format == "json":
        _emit(rec.model_dump_json(indent=2))
    elif args.format == "markdown":
        _emit(recommendation_markdown(rec))
    else:
        _emit(recommendation_table(rec))
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    ev = evaluate(scenario)
    if args.format == "json":
        _emit(ev.model_dump_json(indent=2))
    elif args.format == "markdown":
        _emit(evaluation_markdown(ev, scenario))
    else:
        _emit(evaluation_table(ev, scenario))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    ev = evaluate(scenario)
    if args.format == "json":
        _emit(
            json.dumps(
                {"meets_targets": ev.meets_targets, "evaluation": ev.model_dump(mode="json")}, indent=2
            )
        )
    elif args.format == "markdown":
        _emit(evaluation_markdown(ev, scenario))
    else:
        _emit(evaluation_table(ev, scenario))
        _emit("PASS: every target met at peak" if ev.meets_targets else "FAIL: a target is missed at peak")
    return EXIT_OK if ev.meets_targets else EXIT_TARGET_MISSED


def _example(args: argparse.Namespace) -> int:
    _emit(preset(args.preset).model_dump_json(indent=2))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    _emit(json.dumps(Scenario.model_json_schema(), indent=2))
    return EXIT_OK
