"""A seeded fuzz of the page: hundreds of random input combinations, edges included, zero exceptions.

Every combination is a full rerun through AppTest. The model's cost per valid combination is the slow
part, so the charts' resolutions are lowered here (`sizing_app.services.RESOLUTION`): the same
code paths run, each with fewer points. SIZING_APP_FUZZ_N sets how many combinations (default 300).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from sizing_app import services as svc
from sizing_app.services import FIELDS, Field

APP = str(Path(__file__).resolve().parent.parent / "app.py")
N = int(os.environ.get("SIZING_APP_FUZZ_N", "300"))


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from sizing_app import compute, simulation

    compute.clear()
    simulation.clear()
    yield


@pytest.fixture
def low_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("curve_points", 3), ("sweep_points", 3), ("grid_size", 2), ("blocking_points", 3)):
        monkeypatch.setattr(svc.RESOLUTION, name, value)


def _value(f: Field, rng: random.Random) -> int | float:
    default = svc.default_values()[f.key]
    r = rng.random()
    if r < 0.55:
        v: float = default
    elif r < 0.65:
        v = f.low
    elif r < 0.72:
        v = f.high
    elif f.high - f.low <= 1.0:
        v = rng.uniform(f.low, f.high)
    else:
        # Log-uniform between a tenth and ten times the default: the plausible range, then its edges above.
        base = max(float(default), 1.0)
        v = min(max(base * math.exp(rng.uniform(-math.log(10), math.log(10))), f.low), f.high)
    return round(v) if f.integer else float(v)


def _rows(rng: random.Random) -> dict[str, Any]:
    """An edit of the endpoint table: cells changed, rows added or deleted, blanks left."""
    edited: dict[int, dict[str, Any]] = {}
    for _ in range(rng.randrange(3)):
        row = rng.randrange(3)
        col = rng.choice(
            [
                "share",
                "cpu_ms",
                "db_hold_ms",
                "upstream_calls",
                "upstream_latency_ms",
                "sync_dependencies",
                "blocking_in_async_ms",
                "handler",
                "response_model",
                "db_hold_p99_ms",
                "name",
            ]
        )
        value: Any = {
            "share": rng.choice([0.0, 0.2, 0.5, 1.0]),
            "handler": rng.choice(["sync", "async"]),
            "response_model": rng.random() < 0.5,
            "name": rng.choice(["", "x", "list orders"]),
            "db_hold_p99_ms": rng.choice([None, 1.0, 30.0, 500.0]),
            "upstream_calls": rng.choice([0, 1, 3, 100]),
            "sync_dependencies": rng.choice([0, 2, 50]),
        }.get(col, rng.choice([0.0, 0.001, 5.0, 300.0, 600_000.0]))
        edited.setdefault(row, {})[col] = value
    added = (
        [{"name": "extra", "share": 0.0, "handler": "async", "response_model": False}]
        if rng.random() < 0.1
        else []
    )
    deleted = [rng.randrange(3)] if rng.random() < 0.1 else []
    return {"edited_rows": edited, "added_rows": added, "deleted_rows": deleted}


@pytest.mark.usefixtures("low_resolution")
def test_random_inputs_never_raise() -> None:
    rng = random.Random(20261125)
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    outcomes = {"page": 0, "error": 0}
    for i in range(N):
        if i == (2 * N) // 3:
            at.radio(key="form").set_value("Short").run()
        at.radio(key="mode").set_value(rng.choice(["Recommend", "Diagnose"]))
        shown = {n.key for n in at.number_input}
        for f in FIELDS:
            if f.key in shown:
                at.number_input(key=f.key).set_value(_value(f, rng))
        if i < (2 * N) // 3 and rng.random() < 0.3:
            at.session_state["endpoint_editor_0"] = _rows(rng)
        at.run()
        assert not at.exception, (
            i,
            {k: at.number_input(key=k).value for k in shown},
            [e.value for e in at.exception],
        )
        if at.metric:
            outcomes["page"] += 1
        else:
            assert at.error, i  # no numbers is only acceptable with an error saying why
            outcomes["error"] += 1
        if i % 25 == 24:
            from sizing_app import compute

            compute.clear()  # keep memory flat: each combination is new anyway
    # The fuzz must exercise the computing page, not only the input errors.
    print(f"fuzz: {N} combinations, {outcomes['page']} computed pages, {outcomes['error']} input errors")
    assert outcomes["page"] >= N // 5, outcomes
    assert outcomes["error"] >= N // 20, outcomes
