"""`python -m sizing` recommend / evaluate / check / example / schema, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sizing import Scenario, evaluate, preset, recommend


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sizing", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def example_json() -> str:
    out = _run("example")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_example_is_a_valid_scenario(example_json: str) -> None:
    assert Scenario.model_validate_json(example_json) == preset("mixed service")


def test_schema_is_json_schema_of_the_scenario() -> None:
    out = _run("schema")
    assert out.returncode == 0
    schema = json.loads(out.stdout)
    assert schema["title"] == "Scenario"
    assert {"traffic", "endpoints", "deployment", "targets"} <= set(schema["properties"])


def test_evaluate_json_from_stdin_matches_the_library(example_json: str) -> None:
    out = _run("evaluate", "-", "--format", "json", stdin=example_json)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    want = json.loads(evaluate(preset("mixed service")).model_dump_json())
    assert got == want


def test_recommend_json_from_file_matches_the_library(tmp_path: Path, example_json: str) -> None:
    f = tmp_path / "s.json"
    f.write_text(example_json)
    out = _run("recommend", str(f), "--format", "json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == json.loads(recommend(preset("mixed service")).model_dump_json())


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_human_formats_show_the_numbers(example_json: str, fmt: str) -> None:
    out = _run("recommend", "-", "--format", fmt, stdin=example_json)
    assert out.returncode == 0, out.stderr
    rec = recommend(preset("mixed service"))
    assert "thread_tokens" in out.stdout and str(rec.value("thread_tokens")) in out.stdout
    assert ("| setting |" in out.stdout) == (fmt == "markdown")


def test_check_exit_codes_gate_ci(example_json: str) -> None:
    good = preset("mixed service").model_copy(update={"deployment": preset("mixed service").deployment})
    rec = recommend(good)
    fixed = good.model_copy(
        update={"deployment": good.deployment.model_copy(update={st.name: st.value for st in rec.settings})}
    )
    ok = _run("check", "-", stdin=fixed.model_dump_json())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout
    bad = good.model_copy(update={"traffic": good.traffic.model_copy(update={"rps": 5000})})
    miss = _run("check", "-", "--format", "json", stdin=bad.model_dump_json())
    assert miss.returncode == 1
    assert json.loads(miss.stdout)["meets_targets"] is False


def test_bad_input_exits_2_with_one_line_per_field_and_nothing_on_stdout(example_json: str) -> None:
    data = json.loads(example_json)
    data["traffic"]["rps"] = -5
    data["endpoints"][0]["share"] = 7
    out = _run("evaluate", "-", stdin=json.dumps(data))
    assert out.returncode == 2
    assert out.stdout == ""
    assert "traffic.rps" in out.stderr and "-5" in out.stderr
    assert "endpoints.0.share" in out.stderr and "7" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("evaluate", "/nonexistent.json"), None, "no such file"),
        (("evaluate", "-"), "{not json", "not valid JSON"),
        (("recommend", "-"), "[]", "scenario"),
    ],
)
def test_unreadable_input_exits_2(args: tuple[str, ...], stdin: str | None, message: str) -> None:
    out = _run(*args, stdin=stdin)
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr
