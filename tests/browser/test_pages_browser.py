"""Every page opens in a real browser, from a URL, without an error; a
screenshot of each goes to docs/screenshots/.
"""

from __future__ import annotations

import pytest
from stbrowser import DashboardServer, assert_no_exception, error_texts, main_text, open_page, screenshot

TITLES = {
    "trends": "Error trends",
    "health": "Item & institution health",
    "investigate": "Investigate",
    "admin": "Admin: Plaid refreshes",
}


@pytest.mark.parametrize("name", list(TITLES))
def test_page_opens_in_the_browser(page, dashboard, name):
    open_page(page, dashboard.base_url, name)
    assert_no_exception(page)
    assert error_texts(page) == []
    assert page.locator("h1").first.inner_text().strip() == TITLES[name]
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Simulated" in sidebar  # the offline Plaid stand-in is announced
    assert "dashboard_scan" in sidebar  # the database label names the role, never its password
    screenshot(page, name)


def test_root_url_opens_the_default_page(page, dashboard):
    open_page(page, dashboard.base_url, "/")
    assert_no_exception(page)
    assert page.locator("h1").first.inner_text().strip() == TITLES["trends"]


def test_fresh_server_refuses_a_direct_visit_to_admin(page, dashboard_url, tmp_path):
    """A page URL can run without app.py on a fresh server: the page itself must refuse."""
    server = DashboardServer(tmp_path / "no-admin.log", DATABASE_URL=dashboard_url)
    try:
        open_page(page, server.base_url, "admin")
        assert_no_exception(page)
        assert any("Access denied" in e for e in error_texts(page)), main_text(page)
        screenshot(page, "admin-access-denied")
    finally:
        server.stop()
