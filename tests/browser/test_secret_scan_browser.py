"""No access token, database password or Plaid secret reaches the browser
(HTML, URL, websocket messages, downloads) or the server log.
"""

from __future__ import annotations

from secret_scan import Capture, deep_links, leaks
from stbrowser import assert_no_exception, open_page

DOWNLOAD_BUTTONS = '[data-testid="stDownloadButton"] button'


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
    for link in deep_links(dashboard_url):
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
