"""`python -m sizing simulate`: output formats, options, and bad input (exit 2, one line per bad field)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sizing.cli import main
from sizing.scenario import Scenario


def run(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None,
        monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.json"
    path.write_text(Scenario.simple(rps=200, sync_fraction=0.5, upstream_latency_ms=80).model_dump_json())
    return path


def test_json_is_the_result_model(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["simulate", str(scenario_file), "--format", "json", "--requests", "8000",
                          "--replications", "2", "--seed", "7"], capsys)
    assert code == 0 and err == ""
    data = json.loads(out, parse_constant=lambda s: pytest.fail(f"non-strict JSON {s}"))
    assert data["seed"] == 7 and data["replications"] == 2 and data["stable"] is True
    assert {"stages", "latency", "ci", "histogram", "throughput_rps"} <= set(data)


def test_table_and_markdown(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["simulate", str(scenario_file), "--requests", "4000", "--replications", "2"], capsys)
    assert code == 0 and "STABLE" in out and "thread_tokens" in out and "overall" in out and "±" in out
    code, out, _ = run(["simulate", str(scenario_file), "--format", "markdown", "--requests", "4000",
                        "--replications", "2"], capsys)
    assert code == 0 and out.startswith("## Simulation") and "| stage |" in out


def test_stdin(
    scenario_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(["simulate", "-", "--format", "json", "--requests", "4000", "--replications", "2"],
                       capsys, stdin=scenario_file.read_text(), monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["requests"] >= 4000


def test_bad_scenario_exits_2_with_one_line_per_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"traffic": {"rps": -1}, "endpoints": [{"name": "a", "share": 1.5,
                                                                       "handler": "sync"}]}))
    code, out, err = run(["simulate", str(bad)], capsys)
    assert code == 2 and out == ""
    assert "traffic.rps" in err and "endpoints.0.share" in err


def test_bad_option_value_exits_2(scenario_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["simulate", str(scenario_file), "--replications", "0"], capsys)
    assert code == 2 and out == "" and "replications" in err and err.count("\n") == 1
    code, out, err = run(["simulate", str(tmp_missing := scenario_file.with_name("nope.json"))], capsys)
    assert code == 2 and out == "" and str(tmp_missing.name) in err


def test_module_entry_point(scenario_file: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sizing", "simulate", str(scenario_file), "--format", "json", "--requests",
         "4000", "--replications", "2"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stable"] is True
