"""MkDocs hooks: the reference pages are generated from the code at build time, so they cannot go stale.

A page holds a marker such as `<!-- generated: cli-reference -->`; `on_page_markdown` replaces it with
Markdown built from the argparse parsers, the scenario's JSON Schema or the finding codes.
"""

from __future__ import annotations

import argparse
from typing import Any

from sizing.cli import build_parser
from sizing.model import FINDING_CODES
from sizing.scenario import PRESETS, Scenario


def on_page_markdown(markdown: str, **_: Any) -> str:
    for marker, build in _GENERATORS.items():
        tag = f"<!-- generated: {marker} -->"
        if tag in markdown:
            markdown = markdown.replace(tag, build())
    return markdown


# --- the CLI ----------------------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_row(action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
        return None
    names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
    text = (action.help or "").replace("%(default)s", str(action.default)).replace("%%", "%")
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        text += " One of: " + ", ".join(f"`{c}`" for c in action.choices) + "."
    cell = text.replace("|", "\\|")
    return f"| {names} | {cell} |"


def cli_reference() -> str:
    parser = build_parser()
    out = ["```text", parser.format_usage().strip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        out += [f"### `python -m sizing {name}`", ""]
        if sub.description:
            out += [sub.description.replace("%%", "%"), ""]
        out += ["```text", sub.format_usage().strip().replace("usage: ", ""), "```", ""]
        rows = [r for r in (_option_row(a) for a in sub._actions) if r]
        if rows:
            out += ["| argument | meaning |", "|---|---|", *rows, ""]
    return "\n".join(out)


# --- the scenario -----------------------------------------------------------------------------------------


def _type_of(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " or ".join(f'`"{v}"`' for v in prop["enum"])
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if prop.get("type") == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    return {"number": "number", "integer": "integer", "string": "string", "boolean": "true/false",
            "null": "null"}.get(prop.get("type", ""), "any")


def _bounds(prop: dict[str, Any]) -> str:
    parts = []
    for key, sign in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<=")):
        for p in [prop, *prop.get("anyOf", [])]:
            if key in p:
                parts.append(f"{sign} {p[key]:g}")
    for key, sign in (("minLength", "length >="), ("maxLength", "length <="), ("minItems", "items >="),
                      ("maxItems", "items <=")):
        if key in prop:
            parts.append(f"{sign} {prop[key]}")
    return ", ".join(parts)


def _default(name: str, prop: dict[str, Any], required: set[str]) -> str:
    if name in required:
        return "required"
    if "default" in prop:
        value = prop["default"]
        return "null" if value is None else f"`{value}`"
    return "its own defaults"


def _section(title: str, schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    out = [f"### `{title}`", "", (schema.get("description") or "").strip(), "",
           "| field | type | default | valid range | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        desc = (prop.get("description") or prop.get("title") or "").replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{name}` | {_type_of(prop)} | {_default(name, prop, required)} | {_bounds(prop)} | {desc} |")
    return [*out, ""]


def scenario_reference() -> str:
    schema = Scenario.model_json_schema()
    defs = schema["$defs"]
    out = _section("scenario", schema)
    for title, ref in (("traffic", "Traffic"), ("endpoints[]", "Endpoint"), ("deployment", "Deployment"),
                       ("targets", "Targets"), ("runtime", "Runtime")):
        out += _section(title, defs[ref])
    return "\n".join(out)


def presets_list() -> str:
    rows = ["| preset | endpoints | deployment |", "|---|---|---|"]
    for name, s in PRESETS.items():
        eps = ", ".join(f"{e.name} ({e.handler}, {e.share:g})" for e in s.endpoints)
        d = s.deployment
        rows.append(f"| `{name}` | {eps} | {d.hosts} host(s) x {d.workers_per_host} workers, {d.thread_tokens} tokens, "
                    f"pool {d.db_pool_size} + {d.db_max_overflow} |")
    return "\n".join(rows)


def finding_codes() -> str:
    rows = ["| code | what it means |", "|---|---|"]
    rows += [f"| `{code}` | {text} |" for code, text in FINDING_CODES.items()]
    return "\n".join(rows)


_GENERATORS = {
    "cli-reference": cli_reference,
    "scenario-reference": scenario_reference,
    "presets": presets_list,
    "finding-codes": finding_codes,
}
