"""`python -m sizing validate`: bad input exits 2, one line per bad field, nothing on stdout, no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sizing.cli import main


def _run(argv: list[str]) -> int:
    # Bad input is refused before `validate` is called: a server started by mistake would make the run
    # last a minute and end with another code than 2.
    return main(["validate", *argv])


def _write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


GOOD = {
    "traffic": {"rps": 10},
    "endpoints": [{"name": "a", "share": 1.0, "handler": "sync", "other_io_ms": 10, "other_io_cv2": 0}],
    "deployment": {"thread_tokens": 2},
}


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--points", "0.5,abc"], ["--points: 'abc'"]),
        (["--points", "7"], ["--points: fraction '7' must be in (0, 5]"]),
        (
            ["--seconds", "0.1", "--max-requests", "5"],
            ["--seconds: must be in [1, 600], got 0.1", "--max-requests: must be in [100, 10000000], got 5"],
        ),
        (["--out", "/nonexistent/dir/x.json"], ["--out: directory '/nonexistent/dir' does not exist"]),
        (["--stage", "db_pool_sync"], ["--stage: 'db_pool_sync' is not used by this scenario; valid:"]),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needles: list[str]
) -> None:
    assert _run([_write(tmp_path, GOOD), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == len(needles)
    for needle in needles:
        assert any(needle in ln for ln in lines), (needle, err)


def test_bad_scenario_exits_2_one_line_per_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {**GOOD, "deployment": {"thread_tokens": 0, "workers_per_host": 0}}
    assert _run([_write(tmp_path, bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "deployment.thread_tokens" in err and "deployment.workers_per_host" in err
    assert len(err.strip().splitlines()) == 2


def test_unemulatable_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {
        **GOOD,
        "endpoints": [{"name": "a", "share": 1.0, "handler": "sync", "db_hold_ms": 5}],
        "deployment": {"hosts": 3, "db_pool_size": 0, "db_max_overflow": 0},
    }
    assert _run([_write(tmp_path, bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "deployment.hosts: validate emulates one host, got 3" in err
    assert "endpoints.0.db_hold_ms: 5.0 needs a DB connection" in err


def test_pin_without_a_spare_cpu_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    workers = len(os.sched_getaffinity(0))
    data = {**GOOD, "deployment": {"thread_tokens": 2, "workers_per_host": workers, "cores_per_host": workers}}
    assert _run([_write(tmp_path, data), "--pin"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"--pin: needs more CPUs than the scenario's workers_per_host ({workers})" in err


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["/nonexistent.json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "FILE: no such file" in err
