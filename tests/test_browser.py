"""The page in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

Skipped with a reason when no Chromium is installed; with CI=true a missing browser fails instead.
Run as a script to (re)make the README's screenshot:  python tests/test_browser.py --screenshot docs/screenshot.png
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Cold reruns run the whole model (seconds on a shared 2-core machine): wait generously for numbers.
MODEL_WAIT_MS = 90_000

pytestmark = pytest.mark.browser


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _require_browser() -> str:
    path = chromium_path()
    if path is not None:
        return path
    why = "no Chromium found (/usr/bin/chromium; install it with apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def streamlit_server() -> Iterator[str]:
    """`streamlit run app.py` on 127.0.0.1 and a free port; stopped by its own pid on the way out."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        yield from _serve(port, log)


def _serve(port: int, log: Any) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("streamlit did not answer /_stcore/health within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def wait_rendered(page: Any, timeout_ms: float = MODEL_WAIT_MS) -> None:
    """Connected, script finished, no skeleton left (see /work/shared/notes/streamlit-testing.md)."""
    page.wait_for_timeout(200)
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(
        state="attached", timeout=timeout_ms
    )
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout_ms
    )
    page.locator("[data-testid='stSkeleton']").first.wait_for(state="detached", timeout=timeout_ms)


def metric(page: Any, label: str) -> Any:
    return (
        page.locator("[data-testid='stMetric']")
        .filter(has_text=label)
        .locator("[data-testid='stMetricValue']")
    )


class Browser:
    def __init__(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        self.console_errors: list[str] = []

    def page(self, url: str, *, width: int = 1400, height: int = 1000) -> Any:
        ctx = self.browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        page = ctx.new_page()
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.goto(url)
        wait_rendered(page)
        return page

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    _require_browser()
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser(_require_browser())
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def page(server: str, browser: Browser) -> Any:
    return browser.page(server)


def test_default_page_renders(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="FastAPI sizing").first).to_be_visible()
    expect(page.locator("[data-testid='stMetric']")).to_have_count(8)
    expect(page.locator("[data-testid='stPlotlyChart']")).to_have_count(6, timeout=MODEL_WAIT_MS)
    assert metric(page, "Thread tokens").inner_text().strip().isdigit()
    expect(page.get_by_text("Every target is met")).to_be_visible()


def test_changing_the_rate_changes_the_recommended_tokens_and_the_link(page: Any, browser: Browser) -> None:
    from playwright.sync_api import expect

    before = metric(page, "Thread tokens").inner_text().strip()
    rate = page.get_by_role("spinbutton", name="Request rate (req/s)")
    rate.fill("60")
    rate.press("Enter")
    expect(metric(page, "Thread tokens")).not_to_have_text(before, timeout=MODEL_WAIT_MS)
    wait_rendered(page)
    after = metric(page, "Thread tokens").inner_text().strip()
    assert after.isdigit() and int(after) < int(before)
    page.wait_for_function("() => window.location.search.includes('rps=60')", timeout=10_000)
    shared = page.url
    # The link alone reproduces the session in a fresh browser context.
    other = browser.page(shared)
    expect(other.get_by_role("spinbutton", name="Request rate (req/s)")).to_have_value("60")
    expect(metric(other, "Thread tokens")).to_have_text(after, timeout=MODEL_WAIT_MS)
    other.context.close()


def test_markdown_report_download_delivers_a_file(page: Any, tmp_path: Path) -> None:
    button = page.get_by_role("button", name="Report (Markdown)")
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=MODEL_WAIT_MS) as info:
        button.click()
    target = tmp_path / "report.md"
    info.value.save_as(target)
    text = target.read_text()
    assert info.value.suggested_filename == "sizing-report.md"
    assert text.startswith("# FastAPI sizing report")
    assert "## Recommendation" in text and "### Latency against request rate" in text


def test_no_console_errors(page: Any, browser: Browser) -> None:
    page.wait_for_timeout(500)
    assert browser.console_errors == []


def take_screenshot(out: Path) -> None:
    """The default page in a tall viewport (Streamlit scrolls inside its own container, so a full-page
    screenshot would stop at the viewport)."""
    exe = chromium_path()
    if exe is None:
        raise SystemExit("no Chromium found")
    b = Browser(exe)
    try:
        with streamlit_server() as url:
            p = b.page(url, width=1500, height=3900)
            p.wait_for_timeout(1500)  # let plotly finish drawing
            out.parent.mkdir(parents=True, exist_ok=True)
            p.screenshot(path=str(out))
        if b.console_errors:
            print("console errors:", b.console_errors, file=sys.stderr)
    finally:
        b.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Screenshot of the default page")
    ap.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "screenshot.png")
    take_screenshot(ap.parse_args().screenshot)
