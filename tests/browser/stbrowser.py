"""Helpers for the browser tests: run the dashboard as the README does, and
wait for Streamlit to finish rendering before looking at a page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# Variables the developer's shell may carry that would change what the dashboard talks to.
_SCRUBBED = ("DATABASE_URL", "PLAID_CLIENT_ID", "PLAID_SECRET", "PLAID_ENV", "DASHBOARD_")

# True when the app has finished a run and shows no spinner or "Running…" status.
_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && /Running/i.test(status.innerText)) return false;
  return true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(overrides)
    return env


class DashboardServer:
    """`streamlit run app.py` on a free port, headless, with its log captured."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        streamlit = Path(sys.executable).parent / "streamlit"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(streamlit), "run", "app.py", "--server.port", str(self.port), "--server.headless", "true"],
            cwd=ROOT,
            env=server_env(**env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"streamlit did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()


def wait_idle(page, timeout: float = 45, settle: float = 0.4) -> None:
    """Wait until Streamlit has finished the current run and stayed idle for `settle` s.

    The settle time covers the gap between a click and the rerun it starts, when
    the app still reports the previous run as finished.
    """
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if page.evaluate(_IDLE_JS):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return
        else:
            idle_since = None
        page.wait_for_timeout(100)
    raise TimeoutError(f"Streamlit did not finish rendering {page.url} within {timeout}s")


def open_page(page, base_url: str, path: str, *, timeout: float = 45) -> None:
    page.goto(f"{base_url}/{path.lstrip('/')}")
    wait_idle(page, timeout)


def main_text(page) -> str:
    """Visible text of the main area (not the sidebar)."""
    return page.locator('[data-testid="stMain"]').inner_text()


def error_texts(page) -> list[str]:
    return page.locator('[data-testid="stAlertContentError"]').all_inner_texts()


def assert_no_exception(page) -> None:
    """No Streamlit exception box and no Python traceback anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, page.url
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, body[:2000]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under docs/screenshots/ (committed, shown in the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # The main area scrolls inside a fixed-height app, so full_page alone shows one
    # screen: grow the viewport to the content (capped), shoot, and restore it.
    size = page.viewport_size or {"width": 1400, "height": 1000}
    height = page.evaluate(
        "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0; }"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 4000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def choose_window(page, key: str) -> None:
    """Click a window preset (1h/24h/7d/30d/custom) of ui.window_picker and wait for the rerun."""
    page.locator('[data-testid="stButtonGroup"]').first.get_by_text(key, exact=True).click()
    wait_idle(page)


def wait_for_text(page, text: str, timeout: float = 60) -> None:
    """Wait until the main area shows `text`.

    On a loaded machine the browser can paint a finished run seconds after the
    server reports it, so checks of specific content wait for that content.
    """
    page.locator('[data-testid="stMain"]').get_by_text(text).first.wait_for(timeout=timeout * 1000)
