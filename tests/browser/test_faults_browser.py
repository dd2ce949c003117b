"""Database faults in a real browser: down at start, gone mid-session, and a
statement timeout. The dashboard says what is wrong, never shows a
traceback, and recovers once the database is back, without a restart.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pgcontrol import ControlledPostgres
from stbrowser import (
    DashboardServer,
    assert_no_exception,
    choose_window,
    error_texts,
    main_text,
    open_page,
    screenshot,
    wait_idle,
)

from dashboard.database import make_engine
from dashboard.schema import init_db
from dashboard.seed import seed

NOT_REACHABLE = "The database is not reachable right now"


@pytest.fixture(scope="module")
def faulty_pg(tmp_path_factory) -> ControlledPostgres:
    pg = ControlledPostgres(tmp_path_factory.mktemp("faultpg") / "data")
    url = pg.create_database("faults")
    engine = make_engine(url)
    init_db(engine)
    seed(engine, events=5_000, seed_value=3, anchor=datetime.now(timezone.utc).replace(minute=0, second=0))
    engine.dispose()
    pg.faults_url = url
    yield pg
    pg.stop()


@pytest.fixture()
def server(faulty_pg, tmp_path):
    faulty_pg.start()
    srv = DashboardServer(tmp_path / "faults.log", DATABASE_URL=faulty_pg.faults_url)
    yield srv
    srv.stop()
    faulty_pg.start()  # leave the server up for the next test, whatever happened


def _retry(page) -> None:
    page.get_by_role("button", name="Retry").click()
    wait_idle(page)


def _assert_page_ok(page, title: str) -> None:
    assert_no_exception(page)
    assert error_texts(page) == [], error_texts(page)
    assert page.locator("h1").first.inner_text().strip() == title
    assert "Database:" in page.locator('[data-testid="stSidebar"]').inner_text()


def test_database_down_at_start_recovers_with_retry(page, faulty_pg, tmp_path):
    faulty_pg.stop()
    srv = DashboardServer(tmp_path / "down.log", DATABASE_URL=faulty_pg.faults_url)
    try:
        open_page(page, srv.base_url, "trends")
        assert_no_exception(page)
        assert any(NOT_REACHABLE in e for e in error_texts(page)), main_text(page)
        assert page.get_by_role("button", name="Retry").count() == 1
        screenshot(page, "fault-database-down")

        faulty_pg.start()
        _retry(page)
        _assert_page_ok(page, "Error trends")
        assert srv.proc.poll() is None  # the same streamlit process: no restart
        assert "Traceback" not in srv.log()
    finally:
        srv.stop()


def test_database_gone_mid_session(page, faulty_pg, server):
    open_page(page, server.base_url, "trends")
    _assert_page_ok(page, "Error trends")

    faulty_pg.stop()
    # A widget change reruns the page in the same session, against a database that is gone.
    choose_window(page, "7d")
    assert_no_exception(page)
    assert any(NOT_REACHABLE in e for e in error_texts(page)), main_text(page)
    screenshot(page, "fault-database-gone")

    faulty_pg.start()
    _retry(page)
    _assert_page_ok(page, "Error trends")
    assert "window=7d" in page.url  # the session kept its state through the outage
    assert "Calls" in main_text(page)
    assert "Traceback" not in server.log()


def test_statement_timeout_says_try_a_shorter_window(page, faulty_pg, tmp_path):
    """A read that outlasts DASHBOARD_STATEMENT_TIMEOUT_MS is stopped and explained.

    The trends queries are made to wait deterministically: another session
    holds an exclusive lock on the events table, so the statement timeout
    fires inside the real page query.
    """
    srv = DashboardServer(tmp_path / "timeout.log", DATABASE_URL=faulty_pg.faults_url,
                          DASHBOARD_STATEMENT_TIMEOUT_MS="1000")
    engine = make_engine(faulty_pg.faults_url)
    locker = engine.connect()
    try:
        locker.exec_driver_sql("LOCK TABLE plaid_api_events_table IN ACCESS EXCLUSIVE MODE")
        open_page(page, srv.base_url, "trends?window=7d")
        assert_no_exception(page)
        errors = error_texts(page)
        assert any("took longer than the dashboard allows" in e and "shorter time window" in e for e in errors), (
            main_text(page)
        )
        screenshot(page, "fault-statement-timeout")

        locker.rollback()  # the lock goes: the same window now loads
        _retry(page)
        _assert_page_ok(page, "Error trends")
        assert "Calls" in main_text(page)
    finally:
        locker.close()
        engine.dispose()
        srv.stop()
