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

from plaid_faults import FAULT_INSTITUTION, FAULT_ITEMS, logged_calls
from secret_scan import Capture
from sqlalchemy import text
from stbrowser import assert_no_exception, error_texts, main_text, open_page, screenshot, wait_for_text, wait_idle

from dashboard.database import make_engine
from dashboard.refresh_actions import MAX_RATE_LIMIT_RETRIES


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


def test_admin_batch_against_the_plaid_standin_with_faults(page, dashboard, dashboard_url):
    """A batch over items whose stand-in answers are 500, 429 and malformed JSON between
    healthy (and slow) ones: it runs to the end, says so, and logged every call."""
    open_page(page, dashboard.base_url, f"admin?institution={FAULT_INSTITUTION}")
    wait_for_text(page, "Choose the action and confirm")
    assert_no_exception(page)
    assert "Plaid is simulated" in main_text(page)
    page.get_by_text(f"I confirm {len(FAULT_ITEMS)} ×").click()
    wait_idle(page)
    screenshot(page, "flow-7-admin-confirm")

    page.get_by_role("button", name="Run", exact=True).click()
    # Three 429 retries back off 2 + 4 + 8 s before the batch can finish.
    wait_for_text(page, "Batch finished", timeout=180)
    wait_idle(page, timeout=60)
    assert_no_exception(page)
    # A batch with failed items ends in a warning, not a green success box.
    warnings = page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts()
    assert any("Batch finished: 3 error, 4 ok" in t for t in warnings), warnings
    screenshot(page, "flow-8-admin-batch-result")

    engine = make_engine(dashboard_url)
    with engine.connect() as conn:
        ids = dict(conn.execute(
            text("SELECT plaid_item_id, id FROM items_table WHERE plaid_institution_id = :i"),
            {"i": FAULT_INSTITUTION},
        ).all())
    calls = logged_calls(engine, list(ids.values()))
    engine.dispose()
    expected = {"healthy": [None], "slow": [None], "server-error": ["INTERNAL_SERVER_ERROR"],
                "rate-limited": ["RATE_LIMIT"] * (1 + MAX_RATE_LIMIT_RETRIES),
                "malformed": ["CLIENT_MALFORMED_RESPONSE"]}
    for scenario, pid in FAULT_ITEMS:
        assert [code for method, code in calls[ids[pid]] if method == "itemGet"] == expected[scenario], pid

    results = list(csv.DictReader(io.StringIO(_download(page, "Download CSV").decode())))
    assert [r["plaid_item_id"] for r in results] == [pid for _, pid in FAULT_ITEMS]
    assert [r["outcome"] for r in results] == ["ok", "ok", "ok", "error", "error", "error", "ok"]
