"""A freshly started real `streamlit run app.py` refuses a direct visit to /admin.

AppTest cannot show this: the legacy pages/ mechanism may serve pages/admin.py
without app.py on a fresh server (shared/reference/streamlit.md), so the proof
needs a real server and a real browser (Debian's chromium via Playwright).
The positive control (same server set-up, admin turned on) shows the check
is what refuses, not a broken page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium missing: run `make browser-deps`")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db_url: str, tmp: Path, **extra: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLAID_", "DASHBOARD_"))}
    env.update(DATABASE_URL=db_url, **extra)
    log = open(tmp / f"streamlit-{port}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return proc, port
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise AssertionError("streamlit did not start: " + (tmp / f"streamlit-{port}.log").read_text()[-2000:])


def _visit_admin(port: int) -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/admin", timeout=60_000)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=60_000)
            page.wait_for_selector("h1", timeout=30_000)
            time.sleep(0.5)
            return page.inner_text("[data-testid='stMain']")
        finally:
            browser.close()


@pytest.mark.parametrize("local_admin", ["", "1"], ids=["refused", "control-admin-on"])
def test_fresh_server_refuses_direct_admin_visit(db_url, tmp_path, local_admin):
    extra = {"DASHBOARD_LOCAL_ADMIN": local_admin} if local_admin else {}
    proc, port = _start(db_url, tmp_path, **extra)
    try:
        main = _visit_admin(port)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    if local_admin:
        assert "Access denied" not in main
        assert "Choose items" in main and "Plaid is simulated" in main
    else:
        assert "Access denied" in main and "DASHBOARD_LOCAL_ADMIN" in main
        assert "Choose items" not in main and "Audit trail" not in main


def test_cancel_in_a_real_browser_stops_the_batch(db_url, tmp_path):
    from admin_helpers import add_items, events
    from playwright.sync_api import sync_playwright
    from sqlalchemy import text

    from dashboard.database import make_engine

    engine = make_engine(db_url)
    # 40 slow items (3 s each in the app's stand-in), 8 at a time: about 15 s unless cancelled.
    add_items(engine, [(f"slow{k:02d}", f"access-sandbox-slow-{k:02d}", "ins_990001") for k in range(40)])
    proc, port = _start(db_url, tmp_path, DASHBOARD_LOCAL_ADMIN="1")
    idle = "[data-testid='stApp'][data-test-script-state='notRunning']"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/admin?institution=ins_990001", timeout=60_000)
            page.wait_for_selector(idle, timeout=60_000)
            page.get_by_text("I confirm 40").click()
            page.wait_for_selector("button:has-text('Run'):not([disabled])", timeout=30_000)
            page.get_by_role("button", name="Run").click()
            page.get_by_role("button", name="Cancel").wait_for(timeout=30_000)
            time.sleep(2)
            page.get_by_role("button", name="Cancel").click()
            # The page refreshes itself until the cancelled batch is recorded.
            page.get_by_text("cancelled, 40 of 40 items").wait_for(timeout=60_000)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with engine.connect() as conn:
        state, results = conn.execute(text("SELECT state, results FROM dashboard_admin_batches")).one()
        outcome = conn.execute(text("SELECT outcome FROM dashboard_audit_log")).scalar_one()
    logged = len(events(engine))
    engine.dispose()
    assert state == "cancelled"
    assert 0 < logged < 40  # in-flight calls finished and were logged, the rest never went out
    assert sum(r["outcome"] == "cancelled" for r in results) == 40 - logged
    assert outcome == f"cancelled: {40 - logged} cancelled, {logged} ok"
