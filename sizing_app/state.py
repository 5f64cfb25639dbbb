"""Session state: where the inputs live between reruns, and the actions that replace them all at once.

Number inputs are bound to the URL (`bind="query-params"`, key = parameter), so a link reproduces them;
the endpoint table has no binding and is kept in the URL here, as one compact token. Actions (a preset, an
import, switching forms) run as widget callbacks, the only place Streamlit lets code set a widget's value.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from sizing import InputError, Scenario, preset
from sizing_app.services import (
    FIELDS,
    decode_endpoints,
    default_rows,
    default_values,
    encode_endpoints,
    rows_from_scenario,
    scenario_from_file,
    scenario_from_inputs,
    short_values,
    values_from_scenario,
)

ROWS = "endpoint_rows"
EDITOR_VERSION = "endpoint_editor_version"
URL_ENDPOINTS = "endpoints"
FORM = "form"
MODE = "mode"
PRESET = "preset"
IMPORT_FILE = "import_file"
IMPORT_PROBLEMS = "import_problems"
URL_PROBLEMS = "url_problems"
FORMS = ("Expert", "Short")
MODES = ("Recommend", "Diagnose")
DEFAULTS = default_values()
DEFAULT_ROWS = default_rows()


def editor_key() -> str:
    return f"endpoint_editor_{st.session_state.get(EDITOR_VERSION, 0)}"


def init() -> None:
    """Once per rerun, before any widget: keep hidden widgets' values and seed the endpoint table."""
    state = st.session_state
    # A widget that is not drawn in a run loses its value; the short form hides most fields, so every
    # field's value is re-stored each run to survive a round trip to the short form and back.
    for f in FIELDS:
        if f.key in state:
            state[f.key] = state[f.key]
    if ROWS not in state:
        rows = DEFAULT_ROWS
        token = st.query_params.get(URL_ENDPOINTS)
        if token:
            try:
                rows = decode_endpoints(token)
            except InputError as exc:
                state[URL_PROBLEMS] = exc.lines
        state[ROWS] = rows


def sync_url(rows: list[dict[str, Any]], form: str) -> None:
    """Keep the endpoint table in the URL when it differs from the default page's (expert form only)."""
    want: str | None = None
    if form == "Expert" and _comparable(rows) != _comparable(DEFAULT_ROWS):
        want = encode_endpoints(rows)
    have = st.query_params.get(URL_ENDPOINTS)
    if want is None and have is not None:
        del st.query_params[URL_ENDPOINTS]
    elif want is not None and want != have:
        st.query_params[URL_ENDPOINTS] = want


def _comparable(rows: list[dict[str, Any]]) -> str:
    try:
        return encode_endpoints(rows)
    except Exception:
        return repr(rows)


def _load(scenario: Scenario) -> None:
    """Put a whole scenario into the inputs (expert form, so nothing in it is hidden or lost)."""
    state = st.session_state
    for key, value in values_from_scenario(scenario).items():
        state[key] = value
    state[ROWS] = rows_from_scenario(scenario)
    state[EDITOR_VERSION] = state.get(EDITOR_VERSION, 0) + 1
    state[FORM] = "Expert"


def apply_preset() -> None:
    name = st.session_state.get(PRESET)
    if name:
        _load(preset(name))


def apply_import() -> None:
    state = st.session_state
    state[IMPORT_PROBLEMS] = []
    upload = state.get(IMPORT_FILE)
    if upload is None:
        return
    try:
        _load(scenario_from_file(upload.getvalue()))
    except InputError as exc:
        state[IMPORT_PROBLEMS] = exc.lines


def current_values() -> dict[str, Any]:
    state = st.session_state
    return {f.key: state.get(f.key, DEFAULTS[f.key]) for f in FIELDS}


def switch_form() -> None:
    """Carry the scenario across forms: to Short, summarise the endpoints in two numbers; to Expert,
    spell out the short form's scenario (its two classes and the defaults it assumed)."""
    state = st.session_state
    values = current_values()
    rows = state.get("edited_rows_snapshot", state.get(ROWS, DEFAULT_ROWS))
    try:
        if state.get(FORM) == "Short":
            state.update(short_values(scenario_from_inputs(values, rows, "expert")))
        else:
            _load(scenario_from_inputs(values, rows, "short"))
    except InputError:
        # Invalid inputs stay as they are; the page shows what is wrong in the form now chosen.
        pass
