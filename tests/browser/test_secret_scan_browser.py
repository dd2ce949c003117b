"""No access token, database password or Plaid secret reaches the browser
(HTML, URL, websocket messages, downloads) or the server log.
"""

from __future__ import annotations

from secret_scan import Capture, leaks
from sqlalchemy import text
from stbrowser import assert_no_exception, open_page

from dashboard.database import make_engine

DOWNLOAD_BUTTONS = '[data-testid="stDownloadButton"] button'


def _deep_links(url: str) -> list[str]:
    """Every page, and the deep links that show one item, request, user and event."""
    engine = make_engine(url)
    with engine.connect() as conn:
        item = conn.execute(
            text(
                "SELECT i.plaid_item_id, e.request_id, e.id, i.user_id FROM plaid_api_events_table e "
                "JOIN items_table i ON i.id = e.item_id WHERE e.error_code IS NOT NULL "
                "AND e.arguments LIKE '%access-sandbox-%' ORDER BY e.created_at DESC LIMIT 1"
            )
        ).one()
        session = conn.execute(
            text("SELECT link_session_id FROM link_events_table WHERE link_session_id IS NOT NULL LIMIT 1")
        ).scalar_one()
    engine.dispose()
    plaid_item_id, request_id, event_id, user_id = item
    return [
        "trends",
        "trends?window=7d",
        "health",
        f"health?item={plaid_item_id}",
        "investigate",
        f"investigate?q={plaid_item_id}",
        f"investigate?q={request_id}",
        f"investigate?q={session}",
        f"investigate?q=user_{user_id}",
        f"investigate?event={event_id}",
        "admin",
        f"admin?item={plaid_item_id}",
    ]


def test_scanner_finds_a_planted_secret(known_secrets):
    """The scan itself can fail: a token, the password or the secret is found."""
    for secret in (known_secrets.access_tokens[0], known_secrets.db_password, known_secrets.plaid_secret):
        assert leaks([("planted", f"x {secret} y".encode())], known_secrets.all())
    assert leaks([("shape", b"access-sandbox-1234abcd-0000")], ())
    assert not leaks([("clean", b"item [REDACTED] ok")], known_secrets.all())


def test_no_secret_reaches_the_browser_or_the_log(page, dashboard, dashboard_url, known_secrets):
    capture = Capture()
    capture.attach(page)
    downloads = 0
    for link in _deep_links(dashboard_url):
        open_page(page, dashboard.base_url, link)
        assert_no_exception(page)
        capture.snapshot(page, link)
        buttons = page.locator(DOWNLOAD_BUTTONS)
        for i in range(buttons.count()):
            capture.download(page, buttons.nth(i), f"{link} #{i}")
            downloads += 1
    frames = [w for w, _ in capture.items if w.startswith("ws<-")]
    assert len(frames) > 20, "the websocket capture saw no traffic: the scan would prove nothing"
    assert leaks(capture.items, known_secrets.all()) == []
    log = dashboard.log()
    assert "You can now view your Streamlit app" in log  # it is the server's log
    assert leaks([("server log", log.encode())], known_secrets.all()) == []
    print(f"scanned {len(capture.items)} captures, {len(frames)} websocket frames, {downloads} downloads")
