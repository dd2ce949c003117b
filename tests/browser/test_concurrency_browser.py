"""Twenty people open the trends page at once: every one gets the right page.

One browser, twenty contexts (separate sessions, like separate people),
driven concurrently with Playwright's async API in a thread of its own (the
sync API the other browser tests use cannot share one with asyncio).
"""

from __future__ import annotations

import asyncio
import threading
import time

from conftest import launch_args
from stbrowser import _IDLE_JS

SESSIONS = 20


async def _open_one(browser, url: str) -> dict:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    started = time.monotonic()
    try:
        await page.goto(url, wait_until="commit", timeout=240_000)
        # Idle twice, a moment apart: the first idle can precede the page's run.
        for _ in range(2):
            await page.wait_for_function(_IDLE_JS, timeout=240_000, polling=100)
            await page.wait_for_timeout(400)
        return {
            "seconds": time.monotonic() - started,
            "title": (await page.locator("h1").first.inner_text()).strip(),
            "errors": await page.locator('[data-testid="stAlertContentError"]').all_inner_texts(),
            "exceptions": await page.locator('[data-testid="stException"]').count(),
            "main": await page.locator('[data-testid="stMain"]').inner_text(),
            "sidebar": await page.locator('[data-testid="stSidebar"]').inner_text(),
        }
    finally:
        await context.close()


async def _open_many(chromium: str, url: str, n: int) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=launch_args())
        try:
            return await asyncio.gather(*(_open_one(browser, url) for _ in range(n)))
        finally:
            await browser.close()


def run_concurrently(chromium: str, url: str, n: int) -> list[dict]:
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["result"] = asyncio.run(_open_many(chromium, url, n))
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    t = threading.Thread(target=work)
    t.start()
    t.join(480)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def test_twenty_concurrent_sessions_on_trends(dashboard, chromium_path):
    started = time.monotonic()
    results = run_concurrently(chromium_path, f"{dashboard.base_url}/trends", SESSIONS)
    elapsed = time.monotonic() - started
    assert len(results) == SESSIONS
    for r in results:
        assert r["exceptions"] == 0
        assert r["errors"] == []
        assert r["title"] == "Error trends"
        assert "Simulated" in r["sidebar"]
    # Every session saw the same page.
    assert len({r["main"] for r in results}) == 1, {r["main"][:200] for r in results}
    slowest = max(r["seconds"] for r in results)
    print(f"{SESSIONS} sessions in {elapsed:.1f}s, slowest page {slowest:.1f}s")
