"""Admin actions on one Item: status, transactions refresh and sync, balance, reset login.

Every Plaid call goes through LoggedPlaidClient (one event row each) and the
shared rate limiter. Outcomes update items_table.status the way Pattern does:
ITEM_LOGIN_REQUIRED makes an Item bad, a clean /item/get makes it good. Each
result carries the triage hint for its error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from plaid.model.accounts_balance_get_request_options import AccountsBalanceGetRequestOptions
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from dashboard.database import read_rows
from dashboard.plaid_client import CallResult, ItemRef, LoggedPlaidClient
from dashboard.rate_limits import Cancelled, RateLimiter, shared_limiter
from dashboard.triage import classify


@dataclass(frozen=True)
class ActionSpec:
    key: str
    label: str
    endpoint: str
    billed_per_call: bool
    sandbox_only: bool = False


ACTIONS: dict[str, ActionSpec] = {
    a.key: a
    for a in (
        ActionSpec("item_status", "Item status (/item/get)", "/item/get", False),
        ActionSpec("transactions_refresh", "Transactions refresh (/transactions/refresh)",
                   "/transactions/refresh", True),
        ActionSpec("transactions_sync", "Transactions sync (/transactions/sync)", "/transactions/sync", False),
        ActionSpec("balance_refresh", "Balance refresh (/accounts/balance/get)", "/accounts/balance/get", True),
        ActionSpec("reset_login", "Reset login (sandbox only)", "/sandbox/item/reset_login", False,
                   sandbox_only=True),
    )
}

MAX_RATE_LIMIT_RETRIES = 3
BACKOFF_BASE_S = 2.0
MAX_SYNC_PAGES = 100  # a runaway has_more loop stops here rather than hammering Plaid


class ActionNotAllowed(ValueError):
    pass


@dataclass
class ActionResult:
    item_id: int
    plaid_item_id: str
    institution: str
    action: str
    outcome: str  # ok | error | cancelled
    error_type: str | None = None
    error_code: str | None = None
    message: str = ""
    triage: str = ""
    next_step: str = ""
    status_before: str = ""
    status_after: str = ""
    calls: int = 0
    rate_limited: int = 0
    request_ids: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return {
            "plaid_item_id": self.plaid_item_id,
            "institution": self.institution,
            "action": self.action,
            "outcome": self.outcome,
            "error_code": self.error_code or "",
            "triage": self.triage,
            "next_step": self.next_step,
            "status_before": self.status_before,
            "status_after": self.status_after,
            "calls": self.calls,
            "rate_limited_retries": self.rate_limited,
            "message": self.message,
            "request_ids": " ".join(self.request_ids),
        }


RESULT_COLUMNS = tuple(ActionResult(0, "", "", "", "").as_row())


def load_items(engine: Engine, item_ids: Sequence[int]) -> list[ItemRef]:
    """Items with their tokens, for the server side only (ItemRef hides the token in repr)."""
    if not item_ids:
        return []
    rows = read_rows(
        engine,
        "SELECT id, user_id, plaid_item_id, plaid_institution_id, status, plaid_access_token "
        "FROM items_table WHERE id = ANY(:ids) ORDER BY id LIMIT :row_limit",
        {"ids": list(item_ids), "row_limit": len(item_ids)},
    )
    return [
        ItemRef(r["id"], r["user_id"], r["plaid_item_id"], r["plaid_institution_id"], r["status"],
                r["plaid_access_token"])
        for r in rows
    ]


class _Runner:
    """Makes the calls of one action on one item, paced and retried."""

    def __init__(self, client: LoggedPlaidClient, limiter: RateLimiter, cancel: threading.Event | None,
                 sleep: Callable[[float], object], result: ActionResult, endpoint: str) -> None:
        self.client, self.limiter, self.cancel, self.sleep = client, limiter, cancel, sleep
        self.result, self.endpoint = result, endpoint

    def call(self, method: str, request: dict[str, Any], item: ItemRef) -> CallResult:
        attempt = 0
        while True:
            self.limiter.acquire(self.endpoint, item.plaid_item_id, self.cancel)
            res = self.client.call(method, request, item=item)
            self.result.calls += 1
            if res.request_id:
                self.result.request_ids.append(res.request_id)
            if res.error_type != "RATE_LIMIT_EXCEEDED" or attempt >= MAX_RATE_LIMIT_RETRIES:
                return res
            # Plaid asked us to slow down: back off exponentially, then retry (a new logged call).
            self.result.rate_limited += 1
            delay = BACKOFF_BASE_S * (2**attempt)
            attempt += 1
            self.sleep(delay)
            if self.cancel is not None and self.cancel.is_set():
                return res


def _set_status(conn: Connection, item: ItemRef, status: str) -> None:
    # Only on change: Pattern's trigger bumps updated_at on every UPDATE.
    conn.execute(
        text("UPDATE items_table SET status = :s WHERE id = :id AND status IS DISTINCT FROM :s"),
        {"s": status, "id": item.id},
    )


def _fail(result: ActionResult, res: CallResult) -> None:
    result.outcome = "error"
    result.error_type, result.error_code = res.error_type, res.error_code
    result.message = res.error_message or ""
    tri = classify(res.error_code, res.error_type)
    result.triage, result.next_step = tri.label, tri.next_step


def run_action(
    client: LoggedPlaidClient,
    action: str,
    item: ItemRef,
    *,
    limiter: RateLimiter | None = None,
    cancel: threading.Event | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> ActionResult:
    """Run one action on one item; never raises for a Plaid failure (LogWriteError does raise)."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise ActionNotAllowed(f"Unknown action {action!r}.")
    if spec.sandbox_only and client.plaid_env != "sandbox":
        raise ActionNotAllowed(f"{spec.label} exists only in the sandbox environment.")
    result = ActionResult(item.id, item.plaid_item_id, item.plaid_institution_id, action, "ok",
                          status_before=item.status, status_after=item.status)
    runner = _Runner(client, limiter or shared_limiter(), cancel, sleep, result, spec.endpoint)
    try:
        return _run(runner, action, item, result)
    except Cancelled:
        result.outcome = "cancelled"
        result.message = f"Cancelled after {result.calls} call(s)." if result.calls else "Cancelled before the call."
        return result


def _run(runner: _Runner, action: str, item: ItemRef, result: ActionResult) -> ActionResult:
    engine = runner.client.engine
    new_status: str | None = None
    if action == "item_status":
        res = runner.call("item_get", {}, item)
        if res.ok:
            err = ((res.data or {}).get("item") or {}).get("error")
            if err:
                code = err.get("error_code")
                _fail(result, CallResult(res.method, False, res.data, res.request_id, err.get("error_type"),
                                         code, err.get("error_message"), res.http_status, res.event_id))
                new_status = "bad" if code == "ITEM_LOGIN_REQUIRED" else None
            else:
                new_status = "good"
                result.message = "Item is healthy at Plaid."
        else:
            _fail(result, res)
    elif action == "transactions_refresh":
        res = runner.call("transactions_refresh", {}, item)
        if res.ok:
            result.message = "Refresh requested; Plaid will send SYNC_UPDATES_AVAILABLE."
        else:
            _fail(result, res)
    elif action == "transactions_sync":
        _sync(runner, item, result)
    elif action == "balance_refresh":
        _balance(runner, item, result)
    elif action == "reset_login":
        res = runner.call("sandbox_item_reset_login", {}, item)
        if res.ok:
            new_status = "bad"  # the Item now needs a login, as the ERROR webhook would tell Pattern
            result.message = "Login reset: the Item now requires ITEM_LOGIN_REQUIRED update mode."
        else:
            _fail(result, res)
    if result.error_code == "ITEM_LOGIN_REQUIRED":
        new_status = "bad"
    if new_status:
        with engine.begin() as conn:
            _set_status(conn, item, new_status)
        result.status_after = new_status
    return result


def _sync(runner: _Runner, item: ItemRef, result: ActionResult) -> None:
    engine = runner.client.engine
    with engine.connect() as conn:
        cursor = conn.execute(text("SELECT transactions_cursor FROM items_table WHERE id = :id"),
                              {"id": item.id}).scalar_one_or_none()
    added: list[dict[str, Any]] = []
    modified: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    for _ in range(MAX_SYNC_PAGES):
        request: dict[str, Any] = {"cursor": cursor} if cursor else {}
        res = runner.call("transactions_sync", request, item)
        if not res.ok:
            _fail(result, res)
            result.message = f"Sync stopped after {result.calls} call(s); the stored cursor was not changed. " + (
                res.error_message or "")
            return
        data = res.data or {}
        added += data.get("added") or []
        modified += data.get("modified") or []
        removed += data.get("removed") or []
        cursor = data.get("next_cursor")
        if not data.get("has_more"):
            break
    else:
        result.outcome = "error"
        result.error_code = "SYNC_PAGE_LIMIT"
        result.message = f"Still has_more after {MAX_SYNC_PAGES} pages; cursor not stored."
        return
    with engine.begin() as conn:
        apply_transactions(conn, added + modified, removed)
        conn.execute(text("UPDATE items_table SET transactions_cursor = :c WHERE id = :id"),
                     {"c": cursor, "id": item.id})
    result.message = (f"Synced {result.calls} page(s): {len(added)} added, {len(modified)} modified, "
                      f"{len(removed)} removed; cursor stored.")


def apply_transactions(conn: Connection, upserts: list[dict[str, Any]], removed: list[dict[str, Any]]) -> None:
    """Store sync changes the way Pattern's server does, so a stored cursor never skips data."""
    for t in upserts:
        category = t.get("category") or []
        conn.execute(
            text(
                """
                INSERT INTO transactions_table (account_id, plaid_transaction_id, plaid_category_id, category,
                    type, name, amount, iso_currency_code, unofficial_currency_code, date, pending, account_owner)
                SELECT a.id, :tid, :cat_id, :cat, :type, :name, :amount, :iso, :uiso, CAST(:date AS date),
                       :pending, :owner
                FROM accounts_table a WHERE a.plaid_account_id = :acct
                ON CONFLICT (plaid_transaction_id) DO UPDATE SET
                    plaid_category_id = EXCLUDED.plaid_category_id, category = EXCLUDED.category,
                    type = EXCLUDED.type, name = EXCLUDED.name, amount = EXCLUDED.amount,
                    iso_currency_code = EXCLUDED.iso_currency_code,
                    unofficial_currency_code = EXCLUDED.unofficial_currency_code,
                    date = EXCLUDED.date, pending = EXCLUDED.pending, account_owner = EXCLUDED.account_owner
                """
            ),
            {
                "tid": t["transaction_id"], "acct": t["account_id"], "cat_id": t.get("category_id"),
                "cat": category[0] if category else None, "type": t.get("payment_channel") or "other",
                "name": t.get("name") or "", "amount": t.get("amount") or 0,
                "iso": t.get("iso_currency_code"), "uiso": t.get("unofficial_currency_code"),
                "date": t.get("date"), "pending": bool(t.get("pending")), "owner": t.get("account_owner"),
            },
        )
    ids = [r["transaction_id"] for r in removed if r.get("transaction_id")]
    if ids:
        conn.execute(text("DELETE FROM transactions_table WHERE plaid_transaction_id = ANY(:ids)"), {"ids": ids})


def _balance(runner: _Runner, item: ItemRef, result: ActionResult) -> None:
    engine = runner.client.engine
    with engine.connect() as conn:
        account_ids = list(conn.execute(
            text("SELECT plaid_account_id FROM accounts_table WHERE item_id = :id ORDER BY id"), {"id": item.id}
        ).scalars())
    request: dict[str, Any] = {}
    if account_ids:
        request["options"] = AccountsBalanceGetRequestOptions(account_ids=account_ids)
    res = runner.call("accounts_balance_get", request, item)
    if not res.ok:
        _fail(result, res)
        return
    updated = 0
    with engine.begin() as conn:
        for acct in (res.data or {}).get("accounts") or []:
            bal = acct.get("balances") or {}
            updated += conn.execute(
                text("UPDATE accounts_table SET current_balance = :cur, available_balance = :avail "
                     "WHERE plaid_account_id = :acct AND item_id = :item"),
                {"cur": bal.get("current"), "avail": bal.get("available"), "acct": acct.get("account_id"),
                 "item": item.id},
            ).rowcount
    result.message = f"Balances updated for {updated} account(s)."
