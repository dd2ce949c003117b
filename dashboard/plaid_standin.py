"""An offline stand-in for the Plaid API, so the demo and the tests need no credentials.

It is a small HTTP server on 127.0.0.1 that answers the refresh endpoints the
dashboard uses, the way Plaid does: POST with a JSON body, credentials in the
PLAID-CLIENT-ID / PLAID-SECRET headers, Plaid's JSON shapes (strict enough for
plaid-python's deserialiser), Plaid's error body (error_type, error_code,
error_message, display_message, request_id) and a request_id in every answer.

Each access token gets a scenario (see `scenario_for`): healthy, login
required, institution down, rate limited, server error, slow, malformed body.
On top of that the documented per-Item and per-client rate limits are enforced
for every token (HTTP 429 RATE_LIMIT_EXCEEDED), so a caller that respects them
is proven to, and one that does not is caught.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dashboard.institutions import DEMO_INSTITUTION_NAMES

STANDIN_CLIENT_ID = "standin-client-id"
STANDIN_SECRET = "standin-secret-not-a-real-key"

HEALTHY = "healthy"
LOGIN_REQUIRED = "login_required"
INSTITUTION_DOWN = "institution_down"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
SLOW = "slow"
MALFORMED = "malformed"
SYNC_MUTATION = "sync_mutation"  # page 2 of a sync fails: the cursor must not move
SCENARIOS = (HEALTHY, LOGIN_REQUIRED, INSTITUTION_DOWN, RATE_LIMITED, SERVER_ERROR, SLOW, MALFORMED, SYNC_MUTATION)

# Demo tokens of healthy items (seed.py: access-sandbox-<uuid>) carry no
# scenario, so one is picked from a hash of the token: mostly healthy, a few of
# each failure. The seed gives its bad items access-sandbox-login-required-<uuid>,
# so the stand-in agrees with the database about them.
_DEMO_SHARES = (
    (LOGIN_REQUIRED, 6),
    (INSTITUTION_DOWN, 4),
    (RATE_LIMITED, 2),
    (SERVER_ERROR, 2),
    (SLOW, 1),
    (MALFORMED, 1),
)

# Documented production limits (shared/reference/plaid-api.md): calls per
# minute per Item and per client, with the error code Plaid answers.
RATE_LIMITS: dict[str, tuple[int, int, str]] = {
    "/item/get": (15, 5000, "ITEM_GET_LIMIT"),
    "/accounts/get": (15, 15000, "ACCOUNTS_LIMIT"),
    "/accounts/balance/get": (5, 1200, "BALANCE_LIMIT"),
    "/transactions/refresh": (2, 100, "TRANSACTIONS_REFRESH_LIMIT"),
    "/transactions/sync": (50, 2500, "TRANSACTIONS_SYNC_LIMIT"),
}
RATE_WINDOW_S = 60.0


def scenario_for(access_token: str) -> str:
    """A token names its scenario (`access-sandbox-<scenario>-…`, used by tests),
    otherwise a stable hash of it picks one (demo data)."""
    rest = access_token.split("-", 2)[-1] if access_token.count("-") >= 2 else access_token
    for name in sorted(SCENARIOS, key=len, reverse=True):
        if rest.startswith(name.replace("_", "-") + "-") or rest.startswith(name + "-"):
            return name
    bucket = int(hashlib.sha256(access_token.encode()).hexdigest()[:8], 16) % 100
    for name, share in _DEMO_SHARES:
        if bucket < share:
            return name
        bucket -= share
    return HEALTHY


def _stable_id(prefix: str, *parts: str, length: int = 37) -> str:
    digest = hashlib.sha256("|".join((prefix, *parts)).encode()).hexdigest()
    return (digest * 2)[:length]


@dataclass
class StandinStats:
    """What the server saw; tests read it to prove limits were respected."""

    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rate_limited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_client_per_minute: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_item_per_minute: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class StandinState:
    """Per-token state (scenario overrides, reset logins, sync progress) and limits."""

    def __init__(
        self,
        *,
        client_id: str = STANDIN_CLIENT_ID,
        secret: str = STANDIN_SECRET,
        slow_seconds: float = 3.0,
        rate_limits: dict[str, tuple[int, int, str]] | None = None,
    ) -> None:
        self.client_id = client_id
        self.secret = secret
        self.slow_seconds = slow_seconds
        self.rate_limits = dict(RATE_LIMITS if rate_limits is None else rate_limits)
        self.overrides: dict[str, str] = {}
        self.stats = StandinStats()
        self._lock = threading.Lock()
        self._client_calls: dict[str, deque[float]] = defaultdict(deque)
        self._item_calls: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def set_scenario(self, access_token: str, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        with self._lock:
            self.overrides[access_token] = scenario

    def scenario(self, access_token: str) -> str:
        with self._lock:
            return self.overrides.get(access_token) or scenario_for(access_token)

    def admit(self, path: str, access_token: str | None) -> str | None:
        """Count a call; return the rate-limit error code if it exceeds a limit."""
        now = time.monotonic()
        with self._lock:
            self.stats.calls[path] += 1
            limits = self.rate_limits.get(path)
            if limits is None:
                return None
            per_item, per_client, code = limits
            client_q = self._client_calls[path]
            item_q = self._item_calls[(path, access_token or "")]
            for q in (client_q, item_q):
                while q and now - q[0] >= RATE_WINDOW_S:
                    q.popleft()
            if len(client_q) >= per_client or len(item_q) >= per_item:
                self.stats.rate_limited[path] += 1
                return code
            client_q.append(now)
            item_q.append(now)
            self.stats.max_client_per_minute[path] = max(self.stats.max_client_per_minute[path], len(client_q))
            self.stats.max_item_per_minute[path] = max(self.stats.max_item_per_minute[path], len(item_q))
            return None


def _request_id() -> str:
    return uuid.uuid4().hex[:15]


def plaid_error(error_type: str, error_code: str, message: str, *, display: str | None = None) -> dict[str, Any]:
    return {
        "error_type": error_type,
        "error_code": error_code,
        "error_message": message,
        "display_message": display,
        "request_id": _request_id(),
        "causes": [],
        "status": None,
        "documentation_url": "https://plaid.com/docs/errors/",
        "suggested_action": None,
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "PlaidStandin/1.0"
    state: StandinState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # request lines would carry nothing useful and clutter test output

    def _send(self, status: int, body: Any, *, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing to answer

    def _error(self, status: int, error_type: str, code: str, message: str) -> None:
        self._send(status, plaid_error(error_type, code, message))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "INVALID_REQUEST", "INVALID_BODY", "body could not be parsed as JSON")
            return
        if not isinstance(body, dict):
            self._error(400, "INVALID_REQUEST", "INVALID_BODY", "body must be a JSON object")
            return
        st = self.state
        client_id = self.headers.get("PLAID-CLIENT-ID") or body.get("client_id")
        secret = self.headers.get("PLAID-SECRET") or body.get("secret")
        if client_id != st.client_id or secret != st.secret:
            self._error(400, "INVALID_INPUT", "INVALID_API_KEYS", "invalid client_id or secret provided")
            return
        handler = _ROUTES.get(self.path)
        if handler is None:
            self._error(404, "INVALID_REQUEST", "NOT_FOUND", f"unknown endpoint {self.path}")
            return
        if self.path == "/institutions/get_by_id":
            handler(self, body, "")
            return
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            self._error(400, "INVALID_REQUEST", "MISSING_FIELDS", "required fields are missing: access_token")
            return
        if not token.startswith("access-"):
            self._error(400, "INVALID_INPUT", "INVALID_ACCESS_TOKEN", "provided access token is in an invalid format")
            return
        limited = st.admit(self.path, token)
        if limited:
            self._error(429, "RATE_LIMIT_EXCEEDED", limited, "rate limit exceeded for this endpoint")
            return
        handler(self, body, st.scenario(token))

    # Scenario failures shared by every item endpoint; returns True when answered.
    def _scenario_failure(self, scenario: str, *, applies_to_reset: bool = False) -> bool:
        if scenario == SLOW:
            time.sleep(self.state.slow_seconds)
            return False
        if scenario == LOGIN_REQUIRED and not applies_to_reset:
            self._error(400, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", _LOGIN_MESSAGE)
            return True
        if scenario == INSTITUTION_DOWN:
            self._error(400, "INSTITUTION_ERROR", "INSTITUTION_DOWN",
                        "this financial institution is not currently responding to requests")
            return True
        if scenario == RATE_LIMITED:
            self._error(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT", "rate limit exceeded")
            return True
        if scenario == SERVER_ERROR:
            self._error(500, "API_ERROR", "INTERNAL_SERVER_ERROR", "an unexpected error occurred")
            return True
        if scenario == MALFORMED:
            self._send(200, None, raw=b'{"request_id": "' + _request_id().encode() + b'", "item": {"item_id": 12')
            return True
        return False


def _item(token: str, scenario: str) -> dict[str, Any]:
    return {
        "item_id": _stable_id("item", token),
        "institution_id": None,
        "webhook": "",
        "error": None,
        "available_products": ["balance"],
        "billed_products": ["transactions"],
        "products": ["transactions"],
        "consent_expiration_time": None,
        "update_type": "background",
    }


def _accounts(token: str, account_ids: list[str] | None) -> list[dict[str, Any]]:
    # The stand-in does not know the database's accounts; callers pass theirs
    # in options.account_ids (as Plaid allows) and get balances for exactly those.
    ids = account_ids or [_stable_id("acct", token, str(k)) for k in range(2)]
    minute = int(time.time() // 60)
    out = []
    for acct in ids:
        cents = int(_stable_id("bal", acct, str(minute), length=8), 16) % 2_000_000
        out.append({
            "account_id": acct,
            "balances": {
                "available": round(cents / 100 - 50, 2),
                "current": round(cents / 100, 2),
                "limit": None,
                "iso_currency_code": "USD",
                "unofficial_currency_code": None,
            },
            "mask": acct[-4:],
            "name": "Plaid Checking",
            "official_name": "Plaid Gold Standard 0% Interest Checking",
            "type": "depository",
            "subtype": "checking",
        })
    return out


_LOGIN_MESSAGE = (
    "the login details of this item have changed (credentials, MFA, or required user action) "
    "and a user login is required to update this information."
)


def _item_get(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    item = _item(body["access_token"], scenario)
    if scenario == LOGIN_REQUIRED:
        # /item/get does not fail for a broken Item: it answers 200 with the Item's error.
        item["error"] = {k: v for k, v in plaid_error("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", _LOGIN_MESSAGE).items()
                         if k != "request_id"}
    elif h._scenario_failure(scenario):
        return
    h._send(200, {"item": item, "request_id": _request_id()})


def _transactions_refresh(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    if h._scenario_failure(scenario):
        return
    h._send(200, {"request_id": _request_id()})


SYNC_PAGES = 3


def _transactions_sync(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    if h._scenario_failure(scenario):
        return
    token = body["access_token"]
    cursor = body.get("cursor") or ""
    # Cursors encode the page: "<base>.<page>"; a cursor from elsewhere starts at page 0.
    base, _, page_s = cursor.rpartition(".")
    page = int(page_s) if page_s.isdigit() and base == _stable_id("cur", token, length=20) else 0
    if scenario == SYNC_MUTATION and page >= 1:
        h._error(400, "TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION",
                 "underlying transaction data changed since the last page was fetched")
        return
    next_page = page + 1
    h._send(200, {
        "transactions_update_status": "HISTORICAL_UPDATE_COMPLETE",
        "accounts": [],
        "added": [],
        "modified": [],
        "removed": [],
        "next_cursor": f"{_stable_id('cur', token, length=20)}.{next_page}",
        "has_more": next_page % SYNC_PAGES != 0,
        "request_id": _request_id(),
    })


def _balance_get(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    if h._scenario_failure(scenario):
        return
    token = body["access_token"]
    ids = (body.get("options") or {}).get("account_ids")
    h._send(200, {"accounts": _accounts(token, ids), "item": _item(token, scenario), "request_id": _request_id()})


def _reset_login(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    if h._scenario_failure(scenario, applies_to_reset=True):
        return
    h.state.set_scenario(body["access_token"], LOGIN_REQUIRED)
    h._send(200, {"reset_login": True, "request_id": _request_id()})


def _institution_get(h: _Handler, body: dict[str, Any], scenario: str) -> None:
    ins = body.get("institution_id")
    name = DEMO_INSTITUTION_NAMES.get(ins) if isinstance(ins, str) else None
    if name is None:
        h._error(400, "INVALID_INPUT", "INVALID_INSTITUTION", "invalid institution_id provided")
        return
    h._send(200, {
        "institution": {
            "institution_id": ins,
            "name": name,
            "products": ["transactions", "balance"],
            "country_codes": ["US"],
            "routing_numbers": [],
            "oauth": False,
            "connection_availability": "SUPPORTED",
        },
        "request_id": _request_id(),
    })


_ROUTES = {
    "/item/get": _item_get,
    "/transactions/refresh": _transactions_refresh,
    "/transactions/sync": _transactions_sync,
    "/accounts/balance/get": _balance_get,
    "/sandbox/item/reset_login": _reset_login,
    "/institutions/get_by_id": _institution_get,
}


class PlaidStandin:
    """A running stand-in server; `url` is the host to give plaid-python."""

    def __init__(self, state: StandinState | None = None, *, port: int = 0) -> None:
        self.state = state or StandinState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="plaid-standin", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> PlaidStandin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: PlaidStandin | None = None
_shared_lock = threading.Lock()


def ensure_standin() -> PlaidStandin:
    """The app's stand-in: started once per process, shared by every session."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PlaidStandin()
        return _shared
