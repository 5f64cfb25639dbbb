"""The app's services (no Streamlit): inputs <-> scenario, import/export, links, headline, report."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from sizing import PRESETS, InputError, Scenario, evaluate, preset, recommend
from sizing.validation import Measured, PointReport
from sizing_app import services as svc
from sizing_app.services import BY_KEY, COLUMN_NAMES


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_the_inputs(name: str) -> None:
    s = preset(name)
    values = svc.values_from_scenario(s)
    assert svc.scenario_from_inputs(values, svc.rows_from_scenario(s), "expert") == s


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_a_link_and_a_file(name: str) -> None:
    s = preset(name)
    rows = svc.decode_endpoints(svc.encode_endpoints(svc.rows_from_scenario(s)))
    assert svc.scenario_from_inputs(svc.values_from_scenario(s), rows, "expert") == s
    assert svc.scenario_from_file(svc.scenario_to_json(s)) == s


def test_default_inputs_are_the_mixed_service_preset() -> None:
    assert svc.DEFAULT_PRESET == "mixed service"
    s = svc.scenario_from_inputs(svc.default_values(), svc.default_rows(), "expert")
    assert s == preset("mixed service")


def test_short_form_is_scenario_simple() -> None:
    values = {**svc.default_values(), "rps": 120.0, "sync": 0.25, "upstream": 80.0, "pool": 7, "cores": 4}
    s = svc.scenario_from_inputs(values, [], "short")
    assert s == Scenario.simple(
        rps=120.0, sync_fraction=0.25, upstream_latency_ms=80.0, db_pool_size=7, cores=4
    )


def test_short_values_summarise_a_scenario() -> None:
    v = svc.short_values(preset("mixed service"))
    assert v["sync"] == pytest.approx(0.7)
    assert v["upstream"] == pytest.approx((0.2 * 150 + 0.3 * 60) / 0.5)
    assert svc.short_values(preset("sync SQLAlchemy CRUD"))["upstream"] == 0.0


def _lines(
    values: dict[str, Any], rows: list[dict[str, Any]] | None = None, form: Any = "expert"
) -> list[str]:
    with pytest.raises(InputError) as info:
        svc.scenario_from_inputs(values, svc.default_rows() if rows is None else rows, form)
    return info.value.lines


@pytest.mark.parametrize(
    ("key", "value", "label"),
    [
        ("rps", 0.0, "Request rate (req/s)"),
        ("cpu", 0.0, "Max CPU utilization (0-1)"),
        ("httpfull", 1.0, "HTTP pool full (probability)"),
        ("p99", 0.0, "p99 latency target (ms)"),
    ],
)
def test_a_bad_value_names_its_field(key: str, value: float, label: str) -> None:
    lines = _lines({**svc.default_values(), key: value})
    assert len(lines) == 1 and lines[0].startswith(label + ":")


def test_a_cross_field_error_names_both_fields() -> None:
    (line,) = _lines({**svc.default_values(), "reserved": 100, "maxconn": 100})
    assert (
        line.startswith("Deployment:") and "db_reserved_connections" in line and "db_max_connections" in line
    )


def test_endpoint_errors_name_the_row_and_column() -> None:
    rows = svc.default_rows()
    rows[1]["cpu_ms"] = 0.0
    rows[2]["share"] = 0.9
    lines = _lines(svc.default_values(), rows)
    assert "Endpoint 2 ('checkout'), CPU ms: Input should be greater than 0 (got 0.0)" in lines
    rows[1]["cpu_ms"] = 3.0
    (line,) = _lines(svc.default_values(), rows)
    assert line.startswith("Scenario:") and "shares must sum to 1" in line


def test_blank_cells_take_defaults_and_blank_rows_are_skipped() -> None:
    rows = svc.default_rows()
    rows[0]["db_hold_cv2"] = float("nan")
    rows.append({c: None for c in COLUMN_NAMES})
    s = svc.scenario_from_inputs(svc.default_values(), rows, "expert")
    assert len(s.endpoints) == 3 and s.endpoints[0].db_hold_cv2 == 1.0


def test_no_endpoints_and_short_form_errors() -> None:
    assert _lines(svc.default_values(), [{c: None for c in COLUMN_NAMES}]) == [
        "Endpoints: add at least one request class"
    ]
    (line,) = _lines({**svc.default_values(), "rps": 0.0}, [], "short")
    assert line.startswith(BY_KEY["rps"].title)
    (line,) = _lines({**svc.default_values(), "sync": 1.5}, [], "short")
    assert line.startswith(BY_KEY["sync"].title)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "expected a scenario (a JSON object)"),
        (
            b'{"traffic": {"rps": -1}, "endpoints": []}',
            "Request rate (req/s): Input should be greater than 0",
        ),
        (
            b'{"traffic": {"rps": 1}, "endpoints": [{"name": "a", "share": 1, "handler": "maybe"}]}',
            "Endpoint 1 ('a'), handler",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b" " * (svc.MAX_UPLOAD_BYTES + 1), "over the 1048576 byte (1 MiB) limit"),
    ],
    ids=["text", "binary", "list", "negative-rate", "bad-handler", "deep", "oversized"],
)
def test_bad_scenario_files_are_refused_with_a_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        svc.scenario_from_file(data)
    assert any(fragment in line for line in info.value.lines), info.value.lines


def test_a_file_wrapping_a_scenario_is_accepted() -> None:
    s = preset("async httpx gateway")
    wrapped = json.dumps({"format": "x", "scenario": json.loads(s.model_dump_json())})
    assert svc.scenario_from_file(wrapped) == s


@pytest.mark.parametrize("token", ["", "abc", "z1.!!!", "z1." + "A" * 9000, "z1.eJwLycxLBQAEPgG7"])
def test_damaged_links_are_refused(token: str) -> None:
    with pytest.raises(InputError):
        svc.decode_endpoints(token)


def test_a_link_holding_a_zip_bomb_is_refused() -> None:
    import base64
    import zlib

    bomb = "z1." + base64.urlsafe_b64encode(zlib.compress(b"[" + b" " * 1_000_000 + b"]", 9)).decode()
    assert len(bomb) < 8000
    with pytest.raises(InputError, match="too large"):
        svc.decode_endpoints(bomb)


def test_measured_points_read_the_validate_output_format() -> None:
    # The fields read here must exist in sizing.validation's report models (a rename would break overlays).
    assert {"rps", "measured"} <= set(PointReport.model_fields)
    assert {"mean_ms", "p50_ms", "p95_ms", "p99_ms"} <= set(Measured.model_fields)
    report = {
        "format": "sizing-validate/1",
        "points": [
            {
                "label": "b",
                "rps": 200.0,
                "measured": {"mean_ms": 20.0, "p50_ms": 15.0, "p95_ms": 40.0, "p99_ms": 80.0},
            },
            {
                "label": "a",
                "rps": 100.0,
                "measured": {"mean_ms": 10.0, "p50_ms": None, "p95_ms": 20.0, "p99_ms": 30.0},
            },
            {"label": "bad", "rps": -1, "measured": {"mean_ms": 1.0}},
        ],
    }
    pts = svc.measured_points(json.dumps(report))
    assert [p.rps for p in pts] == [100.0, 200.0]
    assert pts[0].p99_ms == 30.0 and pts[0].p50_ms is None and pts[1].mean_ms == 20.0
    flat = svc.measured_points(b'[{"rps": 5, "p99_ms": 9}]')
    assert flat[0].p99_ms == 9.0
    for bad in (b"{}", b'{"points": [{"rps": 1}]}', b"nope"):
        with pytest.raises(InputError):
            svc.measured_points(bad)


@pytest.fixture(scope="module")
def mixed_results() -> tuple[Scenario, Any, Any]:
    s = preset("mixed service")
    return s, evaluate(s), recommend(s)


def test_headline_shows_recommendation_with_change_from_today(mixed_results: Any) -> None:
    s, today, rec = mixed_results
    items = {m.label: m for m in svc.headline(s, today, rec, "recommend")}
    assert list(items) == [
        "Hosts",
        "Workers per host",
        "Thread tokens",
        "DB pool",
        "HTTP pool",
        "Predicted p99",
        "Max rps",
        "Headroom",
    ]
    tokens = rec.value("thread_tokens")
    assert items["Thread tokens"].value == str(tokens)
    assert items["Thread tokens"].delta == f"{tokens - s.deployment.thread_tokens:+d}"
    assert rec.evaluation is not None
    assert items["Predicted p99"].value == f"{rec.evaluation.overall.p99_ms:.0f} ms"
    assert items["Predicted p99"].delta_color == "inverse"
    diag = {m.label: m for m in svc.headline(s, today, rec, "diagnose")}
    assert diag["Thread tokens"].value == str(s.deployment.thread_tokens)
    assert diag["Headroom"].value == f"{today.headroom:.2f}x"


def test_headline_of_an_unstable_today_and_an_impossible_target() -> None:
    s = Scenario.simple(
        rps=2000, sync_fraction=1.0, upstream_latency_ms=200, db_pool_size=5, latency_p99_ms=50
    )
    today, rec = evaluate(s), recommend(s)
    assert not today.stable and not rec.feasible and rec.evaluation is None
    items = {m.label: m for m in svc.headline(s, today, rec, "diagnose")}
    assert items["Predicted p99"].value == "unstable" and items["Predicted p99"].delta is None
    rec_items = {m.label: m for m in svc.headline(s, today, rec, "recommend")}
    assert rec_items["Thread tokens"].value == "—" and rec_items["Max rps"].value == "—"
    summary = svc.unstable_summary(today)
    assert summary is not None and "past saturation" in summary and f"{today.rps:.4g} rps" in summary


def test_problem_lines_never_leak_a_traceback() -> None:
    assert svc.problem_lines(InputError(["a: b"])) == ["a: b"]
    assert svc.problem_lines(ValueError("pool is 0\n  detail")) == ["pool is 0"]
    (line,) = svc.problem_lines(KeyError("x"))
    assert line.startswith("internal error (KeyError)")
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate({"traffic": {"rps": 0}, "endpoints": []})
    assert svc.problem_lines(info.value)[0].startswith("Request rate (req/s):")


def test_report_has_inputs_recommendation_findings_and_figure_numbers(mixed_results: Any) -> None:
    s, today, rec = mixed_results
    sj = s.model_dump_json()
    rj = svc.recommended_for(sj, rec)
    numbers = svc.chart_numbers(sj, rj, today, rec)
    md = svc.markdown_report(
        s,
        mode="recommend",
        today=today,
        recommendation=rec,
        numbers=numbers,
        measured=[svc_point(120.0, 300.0)],
    )
    for heading in (
        "# FastAPI sizing report",
        "## Inputs",
        "### Request classes",
        "## Recommendation",
        "## Today's settings",
        "### Latency against request rate",
        "### p99 wait against pool size",
        "### Utilization of every stage",
        "### Fleet DB connections",
        "### Sensitivity",
        "### A blocking call inside async def",
        "### Measured (validation results)",
    ):
        assert heading in md, heading
    assert f"| Request rate | {s.traffic.rps:.6g} | req/s |" in md
    assert f"| thread_tokens | {rec.value('thread_tokens')} |" in md
    curve = numbers.curves[0]
    first = next(i for i, p in enumerate(curve.p99_ms) if p is not None)
    assert f"| {curve.rates[first]:.4g} | {curve.mean_ms[first]:.1f} | {curve.p99_ms[first]:.1f} |" in md
    assert "```json" in md and '"endpoints"' in md
    assert md == svc.markdown_report(
        s,
        mode="recommend",
        today=today,
        recommendation=rec,
        numbers=numbers,
        measured=[svc_point(120.0, 300.0)],
    )  # deterministic


def svc_point(rps: float, p99: float) -> Any:
    from sizing.figures import PointEstimate

    return PointEstimate(rps=rps, p99_ms=p99)


def test_optional_limits_round_trip_through_the_form() -> None:
    """limit_concurrency is optional: the form shows 0 for none, and 0 comes back as none."""
    s = preset("mixed service")
    values = svc.values_from_scenario(s)
    assert values["limitconc"] == 0 and values["pooltimeout"] == 30_000.0
    assert svc.scenario_from_inputs(values, svc.rows_from_scenario(s), "expert").deployment.limit_concurrency is None
    limited = s.model_copy(update={"deployment": s.deployment.model_copy(
        update={"limit_concurrency": 64, "db_pool_timeout_ms": 5000.0})})
    back = svc.scenario_from_inputs(svc.values_from_scenario(limited), svc.rows_from_scenario(limited), "expert")
    assert back == limited


def test_the_driver_cpu_round_trips_through_the_endpoint_table() -> None:
    s = preset("sync SQLAlchemy CRUD")
    eps = [e.model_copy(update={"db_cpu_ms": 0.5}) for e in s.endpoints]
    with_driver = s.model_copy(update={"endpoints": eps})
    rows = svc.decode_endpoints(svc.encode_endpoints(svc.rows_from_scenario(with_driver)))
    assert svc.scenario_from_inputs(svc.values_from_scenario(with_driver), rows, "expert") == with_driver
