"""Client-side pacing within Plaid's documented per-Item and per-client limits.

Plaid counts calls per endpoint per minute, per Item and per client
(shared/reference/plaid-api.md). A sliding-window limiter keyed the same way
makes the dashboard wait before a call would exceed either, so a batch never
provokes RATE_LIMIT_EXCEEDED of its own making.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

# endpoint -> (per Item per minute, per client per minute); production figures.
PLAID_LIMITS: dict[str, tuple[int, int]] = {
    "/item/get": (15, 5000),
    "/accounts/get": (15, 15000),
    "/accounts/balance/get": (5, 1200),
    "/transactions/refresh": (2, 100),
    "/transactions/sync": (50, 2500),
    "/sandbox/item/reset_login": (15, 1000),  # undocumented; a conservative guess
    "/institutions/get_by_id": (0, 1000),  # no Item; per-client guess
}
WINDOW_S = 60.0
# Our clock starts before the request reaches Plaid; a little slack keeps the
# server's window (counted on arrival) from seeing one call too many.
MARGIN_S = 1.0


class Cancelled(Exception):
    """The caller's cancel event was set while waiting for a slot."""


class RateLimiter:
    def __init__(
        self,
        limits: dict[str, tuple[int, int]] | None = None,
        *,
        window_s: float = WINDOW_S,
        margin_s: float = MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(PLAID_LIMITS if limits is None else limits)
        self.window = window_s + margin_s
        self._clock = clock
        self._cond = threading.Condition()
        self._calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.waited_s = 0.0

    def _delay(self, endpoint: str, item_key: str | None, now: float) -> float:
        per_item, per_client = self.limits.get(endpoint, (0, 0))
        delay = 0.0
        for key, cap in (((endpoint, ""), per_client), ((endpoint, item_key or ""), per_item if item_key else 0)):
            if cap <= 0:
                continue
            q = self._calls[key]
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= cap:
                delay = max(delay, self.window - (now - q[len(q) - cap]))
        return delay

    def acquire(self, endpoint: str, item_key: str | None, cancel: threading.Event | None = None) -> None:
        """Block until a call may go out, then record it."""
        with self._cond:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                now = self._clock()
                delay = self._delay(endpoint, item_key, now)
                if delay <= 0:
                    break
                started = self._clock()
                self._cond.wait(timeout=min(delay, 0.5))
                self.waited_s += self._clock() - started
            per_item, per_client = self.limits.get(endpoint, (0, 0))
            if per_client > 0:
                self._calls[(endpoint, "")].append(now)
            if per_item > 0 and item_key:
                self._calls[(endpoint, item_key)].append(now)


_shared = RateLimiter()


def shared_limiter() -> RateLimiter:
    """One limiter per process: every session calls Plaid with the same client id."""
    return _shared
