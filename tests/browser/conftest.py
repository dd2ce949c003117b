"""Fixtures for the real-browser tests: Debian's chromium driven by Playwright,
and the dashboard started the way the README does (`streamlit run app.py`)
against a seeded embedded PostgreSQL database.

The main server is started with secrets a leak would expose: a database
password in DATABASE_URL, a PLAID_SECRET in its environment, and the seed's
access tokens in the database. The secret scan checks none of them reaches
the browser or the server log.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime

import pytest
from plaid_faults import add_fault_items
from secret_scan import KnownSecrets, with_known_secrets
from stbrowser import CHROMIUM, DashboardServer

from dashboard.database import make_engine

SEED_EVENTS = 60_000  # the same demo data as the `seeded` fixture


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not path:
        pytest.fail(
            "The browser tests need Debian's chromium (/usr/bin/chromium), which is missing. "
            "Run `make browser-deps` (the README's `make test` does it for you)."
        )
    return path


# Module scope, not session: a live sync Playwright keeps an event loop on the
# main thread, and any later test that starts its own sync_playwright() would
# then fail ("Sync API inside the asyncio loop").
@pytest.fixture(scope="module")
def playwright_session() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


def launch_args() -> list[str]:
    # Chromium refuses to run its sandbox as root (containers, CI).
    return ["--no-sandbox"] if os.geteuid() == 0 else []


@pytest.fixture(scope="module")
def browser(playwright_session, chromium_path: str):
    b = playwright_session.chromium.launch(executable_path=chromium_path, args=launch_args())
    yield b
    b.close()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture(scope="session")
def known_secrets_url(new_database, seed_anchor: datetime) -> tuple[str, KnownSecrets]:
    """A seeded database of the browser suite's own (admin batches write to it),
    reached as a role whose password is a known secret."""
    from dashboard.seed import seed

    url = new_database()
    engine = make_engine(url)
    seed(engine, events=SEED_EVENTS, seed_value=7, anchor=seed_anchor)
    add_fault_items(engine)  # for the admin batch; their tokens are secrets too
    engine.dispose()
    return with_known_secrets(url)


@pytest.fixture(scope="session")
def known_secrets(known_secrets_url) -> KnownSecrets:
    return known_secrets_url[1]


@pytest.fixture(scope="session")
def dashboard_url(known_secrets_url) -> str:
    return known_secrets_url[0]


@pytest.fixture(scope="session")
def dashboard(dashboard_url: str, known_secrets: KnownSecrets, tmp_path_factory) -> Iterator[DashboardServer]:
    """The dashboard as `streamlit run app.py` serves it, admin actions on, Plaid simulated."""
    log = tmp_path_factory.mktemp("streamlit") / "dashboard.log"
    server = DashboardServer(
        log,
        DATABASE_URL=dashboard_url,
        PLAID_SECRET=known_secrets.plaid_secret,  # no client id: still the offline stand-in
        DASHBOARD_LOCAL_ADMIN="1",
    )
    yield server
    server.stop()

