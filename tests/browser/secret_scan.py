"""Collects everything a browser session received, to scan it for secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

    def download(self, page, locator, label: str) -> bytes:
        with page.expect_download() as info:
            locator.click()
        path = info.value.path()
        data = path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read()
        self.add(f"download {label} {info.value.suggested_filename}", data)
        return data


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
