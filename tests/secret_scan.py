"""The secret scan's shared parts: a database reached with a known password
and holding known access tokens, the pages to open, the leak finder, and the
browser capture (HTML, URL, websocket frames, downloads).

Used by tests/browser/test_secret_scan_browser.py and
tests/test_secret_scan_apptest.py.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from plaid_faults import FAULT_INSTITUTION
from sqlalchemy import text
from sqlalchemy.engine import make_url

from dashboard.database import make_engine

SCAN_ROLE = "dashboard_scan"

# Any Plaid token shape at all: the dashboard has no reason to show one.
TOKEN_SHAPE = re.compile(rb"(?:access|public|processor|link)-(?:sandbox|development|production)-[0-9a-f]{4}")


@dataclass
class Capture:
    """HTML, URLs, websocket frames and downloads seen by one browser page."""

    items: list[tuple[str, bytes]] = field(default_factory=list)

    def attach(self, page) -> None:
        def on_ws(ws) -> None:
            ws.on("framereceived", lambda payload: self.add(f"ws<-{ws.url}", payload))
            ws.on("framesent", lambda payload: self.add(f"ws->{ws.url}", payload))

        page.on("websocket", on_ws)

    def add(self, where: str, data: bytes | str) -> None:
        self.items.append((where, data.encode("utf-8") if isinstance(data, str) else bytes(data)))

    def snapshot(self, page, label: str) -> None:
        self.add(f"html {label}", page.content())
        self.add(f"url {label}", page.url)

    def download(self, page, locator, label: str, *, timeout: float = 30_000) -> str:
        """Click a download button, keep the file's bytes; returns the file name."""
        with page.expect_download(timeout=timeout) as info:
            locator.click()
        name = info.value.suggested_filename
        with open(info.value.path(), "rb") as f:
            self.add(f"download {label} {name}", f.read())
        return name


def leaks(items: list[tuple[str, bytes]], secrets: tuple[str, ...]) -> list[str]:
    """Where any secret, or any token-shaped string, occurs."""
    found = []
    needles = [s.encode("utf-8") for s in secrets]
    for where, data in items:
        for needle in needles:
            if needle in data:
                found.append(f"{where}: contains secret {needle[:12]!r}…")
        m = TOKEN_SHAPE.search(data)
        if m:
            found.append(f"{where}: token-shaped {data[max(0, m.start() - 40):m.end() + 20]!r}")
    return found


@dataclass(frozen=True)
class KnownSecrets:
    db_password: str
    plaid_secret: str
    access_tokens: tuple[str, ...]

    def all(self) -> tuple[str, ...]:
        return (self.db_password, self.plaid_secret, *self.access_tokens)


def with_known_secrets(url: str) -> tuple[str, KnownSecrets]:
    """For a seeded database: a URL carrying a known password, and the secrets to look for."""
    password = "pw-" + secrets.token_urlsafe(18)
    engine = make_engine(url)
    with engine.connect() as conn:
        # Roles are server-wide: the same role serves every scan database of the session.
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": SCAN_ROLE}).first()
        verb = "ALTER" if exists else "CREATE"
        # The embedded server trusts local sockets, so the password is never checked;
        # it is in DATABASE_URL only so the scan can prove it never leaks.
        conn.execute(text(f"{verb} ROLE {SCAN_ROLE} LOGIN SUPERUSER PASSWORD '{password}'"))
        conn.commit()
        tokens = tuple(conn.execute(text("SELECT plaid_access_token FROM items_table")).scalars())
    engine.dispose()
    assert tokens, "the seed wrote no items"
    scan_url = make_url(url).set(username=SCAN_ROLE, password=password).render_as_string(hide_password=False)
    return scan_url, KnownSecrets(password, secrets.token_hex(15), tokens)


def deep_links(url: str) -> list[str]:
    """Every page, and the deep links that show one item, request, Link session, user and event."""
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
        f"admin?institution={FAULT_INSTITUTION}",  # items, and batch results once a batch ran
    ]
