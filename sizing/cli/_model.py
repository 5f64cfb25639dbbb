"""Subcommands of the deployment model: recommend, evaluate, check, example, schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sizing.cli._common import (
    EXIT_OK,
    EXIT_TARGET_MISSED,
    add_format_option,
    emit,
    load_scenario,
    run_guarded,
)
from sizing.model import (
    evaluate,
    evaluation_markdown,
    evaluation_table,
    recommend,
    recommendation_markdown,
    recommendation_table,
)
from sizing.scenario import PRESETS, Scenario


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


def _recommend(args: argparse.Namespace) -> int:
    rec = recommend(load_scenario(args.file))
    if args.format == "json":
        emit(rec.model_dump_json(indent=2))
    elif args.format == "markdown":
        emit(recommendation_markdown(rec))
    else:
        emit(recommendation_table(rec))
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    ev = evaluate(scenario)
    if args.format == "json":
        emit(ev.model_dump_json(indent=2))
    elif args.format == "markdown":
        emit(evaluation_markdown(ev, scenario))
    else:
        emit(evaluation_table(ev, scenario))
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file)
    ev = evaluate(scenario)
    if args.format == "json":
        emit(
            json.dumps(
                {"meets_targets": ev.meets_targets, "evaluation": ev.model_dump(mode="json")}, indent=2
            )
        )
    elif args.format == "markdown":
        emit(evaluation_markdown(ev, scenario))
    else:
        emit(evaluation_table(ev, scenario))
        emit("PASS: every target met at peak" if ev.meets_targets else "FAIL: a target is missed at peak")
    return EXIT_OK if ev.meets_targets else EXIT_TARGET_MISSED


def _example(args: argparse.Namespace) -> int:
    emit(PRESETS[args.preset].model_dump_json(indent=2))
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    emit(json.dumps(Scenario.model_json_schema(), indent=2))
    return EXIT_OK
