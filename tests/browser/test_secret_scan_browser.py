"""No access token, database password or Plaid secret reaches the browser
(HTML, URL, websocket messages, downloads) or the server log.
"""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from secret_scan import Capture, deep_links, leaks
from stbrowser import assert_no_exception, open_page, wait_idle

DOWNLOAD_BUTTONS = '[data-testid="stDownloadButton"] button'


def download_everything(page, capture: Capture, label: str) -> set[str]:
    """Click every download button, including those in other tabs and closed expanders.

    Buttons outside the tabs are clicked once per tab: harmless, and simpler
    than telling identical "Download CSV" buttons apart.
    """
    files: set[str] = set()
    for tab in page.get_by_role("tab").all() or [None]:
        if tab is not None:
            tab.click()
            page.wait_for_timeout(300)
        for summary in page.locator('[data-testid="stExpander"] details:not([open]) > summary').all():
            if summary.is_visible():
                try:
                    summary.click(timeout=3_000)
                except PlaywrightTimeout:
                    pass  # inert (behind another tab): its panel comes with that tab
        for button in page.locator(DOWNLOAD_BUTTONS).all():
            if button.is_visible():
                files.add(_download(page, capture, button, label))
    return files


def _download(page, capture: Capture, button, label: str) -> str:
    # A download click reruns the script; a click that lands while the page is
    # re-rendering can be lost, so wait for the rerun and retry once.
    for attempt in (1, 2):
        try:
            name = capture.download(page, button, label, timeout=15_000 * attempt)
            wait_idle(page)
            return name
        except PlaywrightTimeout:
            wait_idle(page)
    raise AssertionError(f"a download button on {label} gave no file")


def test_scanner_finds_a_planted_secret(known_secrets):
    """The scan itself can fail: a token, the password or the secret is found."""
    for secret in (known_secrets.access_tokens[0], known_secrets.db_password, known_secrets.plaid_secret):
        assert leaks([("planted", f"x {secret} y".encode())], known_secrets.all())
    assert leaks([("shape", b"access-sandbox-1234abcd-0000")], ())
    assert not leaks([("clean", b"item [REDACTED] ok")], known_secrets.all())


def test_no_secret_reaches_the_browser_or_the_log(page, dashboard, dashboard_url, known_secrets):
    capture = Capture()
    capture.attach(page)
    downloads: set[str] = set()
    for link in deep_links(dashboard_url):
        open_page(page, dashboard.base_url, link)
        assert_no_exception(page)
        capture.snapshot(page, link)
        downloads |= download_everything(page, capture, link)
    frames = [w for w, _ in capture.items if w.startswith("ws<-")]
    assert len(frames) > 20, "the websocket capture saw no traffic: the scan would prove nothing"
    assert leaks(capture.items, known_secrets.all()) == []
    log = dashboard.log()
    assert "You can now view your Streamlit app" in log  # it is the server's log
    assert leaks([("server log", log.encode())], known_secrets.all()) == []
    print(f"scanned {len(capture.items)} captures, {len(frames)} websocket frames, downloads: {sorted(downloads)}")
