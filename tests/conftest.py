"""What several test modules share."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _postgres_installed(request: pytest.FixtureRequest) -> None:
    """A test marked `postgres` needs Debian's PostgreSQL binaries: outside CI their absence skips it with the
    reason; with CI=true it fails the run."""
    if request.node.get_closest_marker("postgres") is None:
        return
    # Imported here: the probe's tests also run in a venv with nothing but the probe (see .ci/run).
    from sizing.validation import find_bindir

    if find_bindir() is not None:
        return
    why = "PostgreSQL is not installed (no initdb/postgres; Debian: apt-get install postgresql)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {why}")
    pytest.skip(why)
