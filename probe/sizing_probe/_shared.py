"""Workers of one service share what they measured through files in a directory, as prometheus_client's
multi-process mode does: each worker rewrites its own profile now and then (atomically), and the worker
that answers `/profile` merges every live worker's file with its own."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["merge", "publish", "read_all"]

_PREFIX = "sizing-profile-"


def publish(directory: Path, profile: dict[str, Any]) -> None:
    """Write this worker's profile to `directory` (replace, never a half-written file)."""
    pid = os.getpid()
    fd, tmp = tempfile.mkstemp(prefix=f".{_PREFIX}{pid}-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(profile, f)
        os.replace(tmp, directory / f"{_PREFIX}{pid}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_all(directory: Path, own: dict[str, Any]) -> list[dict[str, Any]]:
    """`own` and the profiles of the other live workers in `directory` (a dead worker's file is removed)."""
    out = [own]
    me = os.getpid()
    for path in sorted(directory.glob(f"{_PREFIX}*.json")):
        try:
            pid = int(path.stem[len(_PREFIX):])
        except ValueError:
            continue
        if pid == me:
            continue
        if not _alive(pid):
            path.unlink(missing_ok=True)
            continue
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def merge(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    """One profile of the whole process group: counts and histograms add, the window is the longest."""
    first = profiles[0]
    out: dict[str, Any] = {
        **first,
        "workers": sum(int(p.get("workers", 1)) for p in profiles),
        "pids": [pid for p in profiles for pid in p.get("pids", [])],
        "window_s": max(float(p.get("window_s", 0.0)) for p in profiles),
        "process_cpu_s": sum(float(p.get("process_cpu_s", 0.0)) for p in profiles),
        "probe_errors": sum(int(p.get("probe_errors", 0)) for p in profiles),
        "routes": {},
    }
    for p in profiles:
        for name, route in p.get("routes", {}).items():
            have = out["routes"].get(name)
            out["routes"][name] = route if have is None else _add(have, route)
    return out


def _add(a: Any, b: Any) -> Any:
    """Add two route records field by field: numbers add, mappings merge, strings stay."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _add(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {*a, *b}}
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a + b
    return a
