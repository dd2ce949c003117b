"""The main flow of each feature, clicked through in a real browser, with a
screenshot of every state that matters.

Dataframes render on a canvas, so rows are reached through the page's own
links and exports (the CSV a support engineer would download), not by
reading the grid.
"""

from __future__ import annotations

import csv
import io
import json

from secret_scan import Capture
from stbrowser import assert_no_exception, error_texts, main_text, open_page, screenshot, wait_for_text, wait_idle


def _download(page, name: str) -> bytes:
    capture = Capture()
    capture.download(page, page.locator('[data-testid="stDownloadButton"] button').filter(has_text=name).first, name)
    wait_idle(page)
    return capture.items[-1][1]


def _follow(page, link) -> None:
    """Open a page link the way a click does (same tab), then wait for the page."""
    href = link.get_attribute("href")
    assert href, "link without a target"
    page.goto(href if href.startswith("http") else page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2] + href)
    wait_idle(page)


def test_trends_drill_down_to_investigate_event_and_ticket_packet(page, dashboard):
    open_page(page, dashboard.base_url, "trends?window=7d")
    wait_for_text(page, "Flagged")
    assert_no_exception(page)
    screenshot(page, "flow-1-trends")

    # A flagged error code links to its matching events.
    flag = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text="ITEM_LOGIN_REQUIRED").first
    _follow(page, flag.get_by_role("link", name="Matching events"))
    assert "/investigate" in page.url and "code=ITEM_LOGIN_REQUIRED" in page.url
    assert_no_exception(page)
    wait_for_text(page, "Timeline")
    assert error_texts(page) == []
    screenshot(page, "flow-2-investigate-timeline")

    rows = list(csv.DictReader(io.StringIO(_download(page, "Download this page").decode())))
    assert rows and all(r["error_code"] == "ITEM_LOGIN_REQUIRED" for r in rows), rows[:2]
    event_url = rows[0]["event"]
    assert "event=" in event_url

    page.goto(dashboard.base_url + event_url if event_url.startswith("/") else event_url)
    wait_idle(page)
    wait_for_text(page, "Plaid ticket packet")
    assert_no_exception(page)
    text = main_text(page)
    assert "ITEM_LOGIN_REQUIRED" in text, text
    screenshot(page, "flow-3-event-and-ticket-packet")

    packet = json.loads(_download(page, "Download JSON"))
    markdown = _download(page, "Download Markdown").decode()
    flat = json.dumps(packet)
    assert "ITEM_LOGIN_REQUIRED" in flat and "ITEM_LOGIN_REQUIRED" in markdown
    assert "access-sandbox-" not in flat + markdown


def test_health_list_to_item_detail(page, dashboard):
    open_page(page, dashboard.base_url, "health?view=Items&window=7d")
    wait_for_text(page, "How health is derived")
    assert_no_exception(page)
    assert error_texts(page) == []
    screenshot(page, "flow-4-health-items")

    items = list(csv.DictReader(io.StringIO(_download(page, "Download CSV").decode())))
    assert items
    worst = items[0]["plaid_item_id"]  # the list is worst first

    open_page(page, dashboard.base_url, f"health?item={worst}&window=7d")
    wait_for_text(page, "Recommended next step")
    assert_no_exception(page)
    assert error_texts(page) == []
    assert f"Item {worst}" in main_text(page)
    screenshot(page, "flow-5-health-item-detail")

    _follow(page, page.get_by_role("link", name="Investigate this item"))
    assert "/investigate" in page.url and worst in page.url
    wait_for_text(page, "Timeline")
    assert_no_exception(page)

    open_page(page, dashboard.base_url, "health?view=Institutions&window=7d")
    wait_for_text(page, "flagged")
    assert_no_exception(page)
    screenshot(page, "flow-6-health-institutions")
