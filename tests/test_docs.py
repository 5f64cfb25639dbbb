"""The README and the docs are true: every Python block runs, every `python -m sizing` line runs, shown
output is the real output, and the site builds strictly (no broken link, no missing reference).

Conventions in the Markdown:
* A fenced `python` block runs; the blocks of one page share a namespace, in order, as in a notebook.
* A fenced block right after the comment `<!-- expected-output -->` is the exact stdout of the code block
  before it (trailing spaces aside).
* In a fenced `console` block, a line `$ python -m sizing ...` runs in bash in a fresh directory shared by
  the page's blocks; the lines after it, up to the next `$`, are its exact stdout. Other `$` lines (pip,
  streamlit) are instructions, not run. A validate or simulate line shown without output runs with short
  options (two seconds of load, a few thousand simulated requests), so the suite stays bounded.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"(?P<marker><!-- expected-output -->\n)?```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.M | re.S)
_SHORT = {
    "validate": ["--seconds", "2", "--points", "0.5", "--no-ceiling", "--retries", "0", "--quiet"],
    "simulate": ["--requests", "5000", "--replications", "2"],
}


@dataclass
class Block:
    info: str
    body: str
    expected: str | None  # the stdout a following expected-output block shows


def blocks(page: Path) -> list[Block]:
    found = [(m.group("info").strip(), m.group("body"), bool(m.group("marker"))) for m in _FENCE.finditer(page.read_text())]
    out: list[Block] = []
    for info, body, is_output in found:
        if is_output:
            assert out, f"{page.name}: an expected-output block with no code block before it"
            out[-1].expected = body
        else:
            out.append(Block(info, body, None))
    return out


def _same(actual: str, expected: str) -> bool:
    def norm(text: str) -> list[str]:
        return [line.rstrip() for line in text.strip("\n").splitlines()]

    return norm(actual) == norm(expected)


def _pages_with(kind: str) -> list[Path]:
    return [p for p in PAGES if any(b.info.split()[0:1] == [kind] for b in blocks(p))]


@pytest.mark.parametrize("page", _pages_with("python"), ids=lambda p: p.name)
def test_python_blocks_run_and_print_what_they_show(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in blocks(page):
        if block.info.split()[0:1] != ["python"]:
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block.body, f"{page.name} block", "exec"), namespace)
        if block.expected is not None:
            assert _same(out.getvalue(), block.expected), f"{page.name}:\n{out.getvalue()}"


def _commands(body: str) -> list[tuple[str, str | None]]:
    """($-line without the prompt, its shown output or None) for each `python -m sizing` line."""
    out: list[tuple[str, str | None]] = []
    current: list[str] | None = None
    for line in body.splitlines():
        if line.startswith("$ "):
            current = None
            if line[2:].startswith("python -m sizing"):
                current = []
                out.append((line[2:], None))
        elif current is not None:
            current.append(line)
            out[-1] = (out[-1][0], "\n".join(current))
    return out


def _shortened(command: str) -> str:
    sub = command.split()[3] if len(command.split()) > 3 else ""
    extra = _SHORT.get(sub)
    if extra is None or "--repredict" in command:
        return command
    head, sep, tail = command.partition(" >")  # options go before any redirection
    return f"{head} {' '.join(extra)}{sep}{tail}"


@pytest.mark.parametrize("page", _pages_with("console"), ids=lambda p: p.name)
def test_cli_lines_run_and_print_what_they_show(page: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    (tmp_path / "bench").symlink_to(ROOT / "bench")  # the stored validation results some examples read
    ran = 0
    for block in blocks(page):
        if block.info.split()[0:1] != ["console"]:
            continue
        for command, shown in _commands(block.body):
            run = command if shown is not None else _shortened(command)
            run = f"set -o pipefail; {run}"
            done = subprocess.run(["bash", "-c", run], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600, check=False)
            assert done.returncode in (0, 1), f"{page.name}: {run}\n{done.stderr}"
            if shown is not None:
                assert _same(done.stdout, shown), f"{page.name}: {command}\n{done.stdout}"
            ran += 1
    assert ran, f"{page.name} has a console block without a python -m sizing line"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """mkdocs build --strict: a broken link, a missing page or an unresolved API reference fails it. No
    online inventory is used (CI has no network beyond the package registries)."""
    assert shutil.which("mkdocs") or (Path(sys.executable).parent / "mkdocs").exists()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert "python -m sizing validate" in (tmp_path / "site" / "cli" / "index.html").read_text()
