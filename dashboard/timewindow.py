"""Time windows for every page: presets, custom ranges, the previous window
and chart bucket sizes. Windows are half-open [start, end) in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PRESET_LABELS: dict[str, str] = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom range",
}
MAX_CUSTOM = timedelta(days=400)


class WindowError(ValueError):
    """A window the user asked for that cannot be used; the message says why."""


@dataclass(frozen=True)
class TimeWindow:
    start: datetime
    end: datetime
    key: str = "custom"

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> TimeWindow:
        """The window of equal length just before this one (for comparisons)."""
        return TimeWindow(self.start - self.duration, self.start, self.key)

    @property
    def bucket(self) -> timedelta:
        """Chart bucket: about 12 to 200 points whatever the window."""
        d = self.duration
        if d <= timedelta(hours=2):
            return timedelta(minutes=5)
        if d <= timedelta(days=2):
            return timedelta(hours=1)
        if d <= timedelta(days=8):
            return timedelta(hours=6)
        if d <= timedelta(days=62):
            return timedelta(days=1)
        return timedelta(days=7)

    @property
    def label(self) -> str:
        if self.key in PRESETS:
            return PRESET_LABELS[self.key]
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M} UTC"

    def params(self, prefix: str = "") -> dict[str, datetime]:
        """Bound parameters for SQL: :start and :end (or prefixed)."""
        return {f"{prefix}start": self.start, f"{prefix}end": self.end}


def utc_now() -> datetime:
    """Now, floored to the minute: windows then stay equal (and cacheable) for a minute."""
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    try:
        return _as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except (ValueError, AttributeError):
        shown = text if len(str(text)) <= 40 else f"{str(text)[:40]}…"
        raise WindowError(f"{shown!r} is not a date or time (use e.g. 2026-11-20 or 2026-11-20T13:00)") from None


def resolve_window(
    key: str | None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    *,
    now: datetime | None = None,
) -> TimeWindow:
    """Build a window from a preset key or a custom start/end."""
    now = _as_utc(now) if now else utc_now()
    key = (key or "24h").strip()
    if key in PRESETS:
        return TimeWindow(now - PRESETS[key], now, key)
    if key != "custom":
        raise WindowError(f"Unknown window {key!r}; choose one of {', '.join([*PRESETS, 'custom'])}")
    if start is None or end is None:
        raise WindowError("A custom window needs both a start and an end.")
    s = start if isinstance(start, datetime) else parse_instant(start)
    e = end if isinstance(end, datetime) else parse_instant(end)
    s, e = _as_utc(s), _as_utc(e)
    if e <= s:
        raise WindowError("The window's end must be after its start.")
    if e - s > MAX_CUSTOM:
        raise WindowError(f"Custom windows are limited to {MAX_CUSTOM.days} days.")
    return TimeWindow(s, e, "custom")
