"""The Streamlit page through AppTest (no server, no browser): inputs, modes, presets, links, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sizing import Scenario, evaluate, preset
from sizing_app import services as svc

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    # st.cache_data and st.cache_resource are shared by every AppTest in this process.
    from sizing_app import compute, simulation

    compute.clear()
    simulation.clear()
    yield


def run(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if query:
        at.query_params.update(query)
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


@pytest.fixture(scope="module")
def default_page() -> AppTest:
    return run()


def test_default_page_is_the_mixed_service_recommendation(default_page: AppTest) -> None:
    at = default_page
    ok(at)
    assert not at.error
    assert at.title[0].value == "FastAPI sizing"
    assert "'mixed service' preset" in at.caption[0].value
    m = metrics(at)
    assert list(m) == [
        "Hosts",
        "Workers per host",
        "Thread tokens",
        "DB pool",
        "HTTP pool",
        "Predicted p99",
        "Max rps",
        "Headroom",
    ]
    rec = svc.recommend_for(preset("mixed service").model_dump_json())
    assert m["Thread tokens"] == str(rec.value("thread_tokens"))
    assert m["DB pool"] == str(rec.value("db_pool_size"))
    assert at.success and "Every target is met" in at.success[0].value
    assert len(at.get("plotly_chart")) == 6
    assert at.number_input(key="rps").value == 150.0
    assert at.radio(key="mode").value == "Recommend" and at.radio(key="form").value == "Expert"


def test_tabs_hold_findings_reasons_config_and_stages(default_page: AppTest) -> None:
    labels = [t.label for t in default_page.tabs]
    assert labels[0].startswith("Findings") and labels[1:] == [
        "Why these numbers",
        "Config to paste",
        "Stage details",
    ]
    codes = [c.value for c in default_page.code]
    assert any("total_tokens" in c for c in codes) and any("uvicorn" in c for c in codes)


def test_request_rate_changes_the_recommended_tokens() -> None:
    at = run()
    before = metrics(at)
    at.number_input(key="rps").set_value(60.0).run()
    ok(at)
    after = metrics(at)
    assert int(after["Thread tokens"]) < int(before["Thread tokens"])
    assert after["Headroom"] != before["Headroom"]


def test_deployment_inputs_change_the_diagnosis() -> None:
    at = run(mode="Diagnose")
    assert metrics(at)["Thread tokens"] == "40"
    before = metrics(at)["Max rps"]
    at.number_input(key="tokens").set_value(8).run()
    ok(at)
    m = metrics(at)
    assert m["Thread tokens"] == "8" and m["Max rps"] != before
    at.number_input(key="tokens").set_value(2).run()
    ok(at)
    assert metrics(at)["Predicted p99"] == "unstable"
    assert "unstable at 300 rps" in errors(at) and "thread tokens" in errors(at)


def test_targets_change_the_recommendation() -> None:
    at = run()
    before = metrics(at)
    at.number_input(key="p99").set_value(300.0).run()
    ok(at)
    after = metrics(at)
    assert after != before
    at.number_input(key="p99").set_value(20.0).run()
    ok(at)
    assert "No setting meets every target" in errors(at)
    assert metrics(at)["Thread tokens"] == "—"


def test_endpoint_table_edits_change_the_numbers() -> None:
    at = run()
    before = metrics(at)
    at.session_state["endpoint_editor_0"] = {
        "edited_rows": {1: {"db_hold_ms": 80.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    ok(at)
    assert int(metrics(at)["DB pool"]) > int(before["DB pool"])
    at.session_state["endpoint_editor_0"] = {
        "edited_rows": {},
        "added_rows": [{"name": "report", "share": 0.1, "handler": "sync", "response_model": False}],
        "deleted_rows": [],
    }
    at.run()
    ok(at)
    assert "shares must sum to 1" in errors(at)


def test_short_form_and_back() -> None:
    at = run()
    at.radio(key="form").set_value("Short").run()
    ok(at)
    assert {n.key for n in at.number_input} >= {"rps", "sync", "upstream", "pool", "cores"}
    assert at.number_input(key="sync").value == pytest.approx(0.7)
    before = metrics(at)
    at.number_input(key="sync").set_value(0.1).run()
    ok(at)
    assert metrics(at)["Max rps"] != before["Max rps"]
    at.number_input(key="upstream").set_value(400.0).run()
    ok(at)
    assert metrics(at)["HTTP pool"] != before["HTTP pool"]
    at.radio(key="form").set_value("Expert").run()
    ok(at)
    rows = at.session_state["endpoint_rows"]
    assert [r["name"] for r in rows] == ["def handlers", "async handlers"]
    assert rows[0]["share"] == pytest.approx(0.1) and rows[0]["upstream_latency_ms"] == 400.0


def test_modes_show_recommendation_or_today() -> None:
    at = run()
    rec = metrics(at)
    at.radio(key="mode").set_value("Diagnose").run()
    ok(at)
    today = metrics(at)
    d = preset("mixed service").deployment
    assert today["Thread tokens"] == str(d.thread_tokens) and today["Workers per host"] == str(
        d.workers_per_host
    )
    assert rec["Thread tokens"] != today["Thread tokens"]
    deltas = {m.label: m.proto.delta for m in at.metric}
    assert deltas["Thread tokens"] == f"{d.thread_tokens - int(rec['Thread tokens']):+d}"


@pytest.mark.parametrize("name", ["sync SQLAlchemy CRUD", "async httpx gateway"])
def test_presets_replace_every_input(name: str) -> None:
    at = run()
    at.selectbox(key="preset").set_value(name).run()
    ok(at)
    s = preset(name)
    assert at.number_input(key="rps").value == s.traffic.rps
    assert at.number_input(key="hosts").value == s.deployment.hosts
    assert f"'{name}' preset" in at.caption[0].value
    assert metrics(at)["Thread tokens"] == str(svc.recommend_for(s.model_dump_json()).value("thread_tokens"))


def test_query_parameters_restore_a_scenario() -> None:
    gateway = preset("async httpx gateway")
    at = run(
        mode="Diagnose",
        rps="500",
        tokens="12",
        hosts="3",
        endpoints=svc.encode_endpoints(svc.rows_from_scenario(gateway)),
    )
    ok(at)
    assert at.radio(key="mode").value == "Diagnose"
    assert at.number_input(key="rps").value == 500.0
    m = metrics(at)
    assert m["Thread tokens"] == "12" and m["Hosts"] == "3"
    assert [r["name"] for r in at.session_state["endpoint_rows"]] == ["proxy", "fan-out"]
    assert "2 request class(es)" in at.caption[0].value


def test_a_damaged_link_keeps_the_page_working() -> None:
    at = run(endpoints="z1.garbage")
    ok(at)
    assert any("Link: URL parameter endpoints: damaged" in w.value for w in at.warning)
    assert metrics(at)["Thread tokens"]


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("rps", 0.0, "Request rate (req/s): Input should be greater than 0"),
        ("reserved", 100, "db_reserved_connections (100) must be below db_max_connections (100)"),
        ("pool", 0, "db_pool_size + db_max_overflow is 0"),
        ("cpu", 0.0, "Max CPU utilization (0-1): Input should be greater than 0"),
    ],
)
def test_bad_values_show_an_error_naming_the_field(key: str, value: float, needle: str) -> None:
    at = run()
    if key == "pool":
        at.number_input(key="overflow").set_value(0)
    at.number_input(key=key).set_value(value).run()
    ok(at)
    assert needle in errors(at)
    assert not at.metric and not at.get("plotly_chart")


def test_import_replaces_the_scenario_and_refuses_bad_files() -> None:
    at = run()
    crud = preset("sync SQLAlchemy CRUD")
    at.file_uploader(key="import_file").set_value(
        ("s.json", svc.scenario_to_json(crud).encode(), "application/json")
    )
    at.run()
    ok(at)
    assert at.number_input(key="rps").value == crud.traffic.rps
    assert "'sync SQLAlchemy CRUD' preset" in at.caption[0].value
    bad = json.dumps({"traffic": {"rps": -5}, "endpoints": []}).encode()
    at.file_uploader(key="import_file").set_value(("bad.json", bad, "application/json"))
    at.run()
    ok(at)
    assert "Request rate (req/s): Input should be greater than 0" in errors(at)
    assert at.number_input(key="rps").value == crud.traffic.rps  # the bad file changed nothing


def test_measured_points_are_drawn_on_the_latency_chart() -> None:
    at = run()
    points = {
        "points": [
            {"rps": 100, "measured": {"mean_ms": 40, "p99_ms": 200}},
            {"rps": 200, "measured": {"mean_ms": 60, "p99_ms": 300}},
        ]
    }
    at.file_uploader(key="measured_file").set_value(
        ("r.json", json.dumps(points).encode(), "application/json")
    )
    at.run()
    ok(at)
    assert any("2 measured point(s)" in c.value for c in at.caption)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {"measured p99", "measured mean"} <= {t.get("name") for t in spec["data"]}


def test_simulation_check_overlays_the_simulated_percentiles() -> None:
    at = run()
    at.selectbox(key="sim_requests").set_value("50,000 (about 2 s)").run()
    at.button(key="sim_run").click().run()
    ok(at)
    tables = [m.value for m in at.markdown if "simulated (95% CI)" in m.value]
    assert tables and "| model |" in tables[0]
    assert len(at.get("plotly_chart")) == 7
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "simulated p99" in {t.get("name") for t in spec["data"]}


def test_sessions_held_across_passes_show_the_stall_risk() -> None:
    """The tutorial's session pattern: the finding, stall_rps on the latency chart, and a clear error for a
    first-use pass the scope does not allow."""
    tutorial = Scenario.model_validate({
        "traffic": {"rps": 150},
        "endpoints": [{"name": "crud", "share": 1.0, "handler": "sync", "cpu_ms": 4.0, "db_hold_ms": 10.0,
                       "sync_dependencies": 2, "response_model": True, "db_connection_scope": "request",
                       "db_first_use_pass": 2}],
        "deployment": {"thread_tokens": 8, "db_pool_size": 5, "db_max_overflow": 0},
    })
    stall = evaluate(tutorial).stall_rps
    assert stall is not None
    at = run(mode="Diagnose")
    at.file_uploader(key="import_file").set_value(
        ("s.json", svc.scenario_to_json(tutorial).encode(), "application/json")
    )
    at.run()
    ok(at)
    shown = "\n".join(m.value for m in at.markdown) + errors(at) + "\n".join(w.value for w in at.warning)
    assert "across token passes" in shown and "max_concurrency" in shown
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = [t for t in spec["data"] if (t.get("meta") or {}).get("kind") == "stall"]
    assert lines and lines[0]["x"][0] == pytest.approx(stall, rel=1e-9)
    editor = f"endpoint_editor_{at.session_state['endpoint_editor_version']}"  # a new table after the import
    at.session_state[editor] = {
        "edited_rows": {0: {"db_connection_scope": "pass", "db_first_use_pass": 3}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    ok(at)
    assert "db_first_use_pass" in errors(at) and "'pass'" in errors(at)
