"""The layout is the architecture: public import paths outside the package, layers that import only the
layers below them, and the heavy parts loaded only when used."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sizing
from sizing.validation import lean_boot

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scenario", "queueing", "model", "simulation", "validation", "figures", "cli", "calibration")

# A dotted path with a private segment of either package of this repository (`sizing.model._worker`,
# `sizing_app.services._fields`), or a private name imported from one (`from sizing import _x`).
_PRIVATE_PATH = re.compile(r"\b(?:sizing|sizing_app)(?:\.\w+)*\._[a-z]\w*")
_PRIVATE_NAME = re.compile(r"^\s*from\s+(?:sizing|sizing_app)(?:\.\w+)*\s+import\s+.*\b_[a-z]\w*", re.M)


def _outside_files() -> list[Path]:
    found = [ROOT / "app.py", ROOT / "README.md", ROOT / "mkdocs.yml"]
    for folder in ("tests", "bench", "docs"):
        found += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md")]
    found += [p for p in (ROOT / "sizing_app").glob("*.py")]  # the page, outside its services package
    return [p for p in found if p.is_file() and p.name != Path(__file__).name]


def test_code_and_docs_outside_the_package_use_public_paths() -> None:
    offenders = []
    for path in _outside_files():
        text = path.read_text(encoding="utf-8")
        for pattern in (_PRIVATE_PATH, _PRIVATE_NAME):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0).strip()}" for m in pattern.finditer(text)]
    assert not offenders, "private import paths outside sizing/:\n" + "\n".join(offenders)


def test_the_private_path_check_catches_what_it_should() -> None:
    assert _PRIVATE_PATH.search("from sizing.model._worker import solve_worker")
    assert _PRIVATE_PATH.search("see `sizing" + "._sim._windows.simulate_windows`")  # split: this file is scanned too
    assert _PRIVATE_NAME.search("from sizing import _appservice as svc")
    assert not _PRIVATE_PATH.search("from sizing.model import solve_worker")
    assert not _PRIVATE_PATH.search("python -m sizing.validation.loadgen")


# Which subpackages each layer may import (besides its own modules and the package's shared base and checks).
ALLOWED = {
    "scenario": set(),
    "queueing": set(),
    "model": {"scenario", "queueing"},
    "simulation": {"scenario", "queueing", "model"},
    "validation": {"scenario", "queueing", "model", "simulation"},
    "figures": {"scenario", "queueing", "model", "simulation"},
    "cli": {"scenario", "queueing", "model", "simulation", "validation", "calibration"},
    "calibration": {"scenario"},
}
# The validation server and generator run in processes of their own that load only what they import.
LEAN = {"validation.server": {"scenario"}, "validation.loadgen": set(), "validation.upstream": set()}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "sizing" or len(parts) < 2 or parts[1] in ("_base", "_checks"):
        return None
    if parts[1] == "validation" and len(parts) > 2 and parts[2] in ("server", "loadgen", "upstream"):
        return f"validation.{parts[2]}"
    return parts[1]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    bad = []
    for path in sorted((ROOT / "sizing" / package).rglob("*.py")):
        here = _layer("sizing." + ".".join(path.relative_to(ROOT / "sizing").with_suffix("").parts))
        assert here is not None
        allowed = LEAN.get(here, ALLOWED[package]) | {here}
        if here.startswith("validation."):
            allowed |= {here}
        elif package == "validation":
            allowed |= {"validation.server", "validation.loadgen", "validation.upstream"}
        for module in _imports(path):
            layer = _layer(module)
            if module == "streamlit" or module.startswith("streamlit."):
                bad.append(f"{path.relative_to(ROOT)} imports streamlit")
            elif layer is not None and layer not in allowed and layer.split(".")[0] not in allowed:
                bad.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not bad, "\n".join(bad)


def test_the_app_services_never_import_streamlit() -> None:
    for path in (ROOT / "sizing_app" / "services").glob("*.py"):
        assert not any(m.split(".")[0] == "streamlit" for m in _imports(path)), path


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_import_sizing_pays_for_neither_plotly_nor_the_validation_server() -> None:
    loaded = _loaded_after("import sizing")
    for heavy in ("plotly", "streamlit", "fastapi", "uvicorn", "httpx", "sizing.validation", "sizing.figures"):
        assert heavy not in loaded, heavy
    loaded = _loaded_after("import sizing; sizing.validate; sizing.figures")
    assert {"sizing.validation", "sizing.figures", "plotly"} <= loaded


def test_the_validation_server_process_loads_no_numpy() -> None:
    """The server boots with the package stubbed, so a worker's heap is that of an ordinary service."""
    loaded = _loaded_after(lean_boot("import sizing.validation.server"))
    assert "fastapi" in loaded and "sizing.scenario" in loaded
    assert not {"numpy", "scipy", "plotly", "sizing.model", "sizing.validation._harness"} & loaded


def test_public_names_report_their_public_module() -> None:
    import importlib

    for package in PACKAGES:
        module = importlib.import_module(f"sizing.{package}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if isinstance(obj, type) or callable(obj):
                assert obj.__module__ == f"sizing.{package}", (package, name, obj.__module__)
    for name in sizing.__all__:
        obj = getattr(sizing, name)
        if isinstance(obj, type) or callable(obj):
            # `instrument` is the probe distribution's own, re-exported (its public module is sizing_probe).
            public = obj.__module__ == "sizing_probe" or obj.__module__.split(".")[1] in PACKAGES
            assert public, (name, obj.__module__)


def test_the_cli_imports_its_subcommands_explicitly() -> None:
    assert "importlib" not in _imports(ROOT / "sizing" / "cli" / "__init__.py")


def test_no_test_skips_because_an_import_failed() -> None:
    for path in (ROOT / "tests").glob("*.py"):
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        assert "importorskip" not in text and "except ImportError" not in text, path
