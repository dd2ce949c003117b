"""The real plaid-python client against the stand-in: every action, every failure
kind, and exactly the event rows each writes."""

from __future__ import annotations

import json
import socket

import pytest
from admin_helpers import add_items, client_for, events
from sqlalchemy import text

from dashboard.plaid_client import (
    LoggedPlaidClient,
    LogWriteError,
    build_api,
    camel_case,
    fetch_institution_name,
    make_client,
)
from dashboard.plaid_standin import (
    STANDIN_CLIENT_ID,
    STANDIN_SECRET,
    PlaidStandin,
    StandinState,
    scenario_for,
)
from dashboard.rate_limits import RateLimiter
from dashboard.refresh_actions import ActionNotAllowed, load_items, run_action

TOKENS = {
    "item-ok": "access-sandbox-healthy-0001",
    "item-login": "access-sandbox-login-required-0002",
    "item-down": "access-sandbox-institution-down-0003",
    "item-500": "access-sandbox-server-error-0004",
    "item-slow": "access-sandbox-slow-0005",
    "item-bad-body": "access-sandbox-malformed-0006",
    "item-limited": "access-sandbox-rate-limited-0007",
    "item-mutation": "access-sandbox-sync-mutation-0008",
}


@pytest.fixture()
def standin():
    server = PlaidStandin(StandinState(slow_seconds=2.0))
    yield server
    server.close()


@pytest.fixture()
def setup(db, standin):
    ids = add_items(db, [(p, t, "ins_109508") for p, t in TOKENS.items()], accounts=2)
    client = client_for(db, standin, timeout=(2.0, 1.0))
    items = {i.plaid_item_id: i for i in load_items(db, list(ids.values()))}
    return db, client, items, ids


def _status(db, item_id):
    with db.connect() as conn:
        return conn.execute(text("SELECT status, transactions_cursor FROM items_table WHERE id = :i"),
                            {"i": item_id}).one()


def _act(client, action, item):
    # No backoff sleeps in tests; the limiter is fresh so earlier tests do not pace this one.
    return run_action(client, action, item, limiter=RateLimiter(), sleep=lambda s: None)


def test_scenarios_from_tokens():
    assert scenario_for(TOKENS["item-login"]) == "login_required"
    assert scenario_for(TOKENS["item-mutation"]) == "sync_mutation"
    assert scenario_for(TOKENS["item-ok"]) == "healthy"
    assert camel_case("accounts_balance_get") == "accountsBalanceGet"


def test_item_status_success_makes_item_good_and_logs_one_row(setup):
    db, client, items, ids = setup
    with db.begin() as conn:
        conn.execute(text("UPDATE items_table SET status = 'bad' WHERE id = :i"), {"i": ids["item-ok"]})
    item = load_items(db, [ids["item-ok"]])[0]
    res = _act(client, "item_status", item)
    assert res.outcome == "ok" and res.status_after == "good"
    assert _status(db, ids["item-ok"]).status == "good"
    rows = events(db)
    assert len(rows) == 1
    row = rows[0]
    assert row["item_id"] == ids["item-ok"] and row["user_id"] == item.user_id
    assert row["plaid_method"] == "itemGet"
    assert json.loads(row["arguments"]) == [{"access_token": "[REDACTED]"}]
    assert row["request_id"] == res.request_ids[0] and len(row["request_id"]) == 15
    assert row["error_type"] is None and row["error_code"] is None
    assert TOKENS["item-ok"] not in repr(item)


def test_login_required_makes_item_bad_with_triage(setup):
    db, client, items, ids = setup
    res = _act(client, "transactions_refresh", items["item-login"])
    assert (res.outcome, res.error_code, res.triage, res.status_after) == (
        "error", "ITEM_LOGIN_REQUIRED", "user action", "bad")
    assert "update mode" in res.next_step
    assert _status(db, ids["item-login"]).status == "bad"
    [row] = events(db)
    assert (row["plaid_method"], row["error_type"], row["error_code"]) == (
        "transactionsRefresh", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED")
    assert row["request_id"] == res.request_ids[0]


@pytest.mark.parametrize(
    ("pid", "error_type", "error_code", "triage", "has_request_id"),
    [
        ("item-down", "INSTITUTION_ERROR", "INSTITUTION_DOWN", "transient", True),
        ("item-500", "API_ERROR", "INTERNAL_SERVER_ERROR", "transient", True),
        ("item-slow", "DASHBOARD_CLIENT_ERROR", "CLIENT_TIMEOUT", "transient", False),
        ("item-bad-body", "DASHBOARD_CLIENT_ERROR", "CLIENT_MALFORMED_RESPONSE", "Plaid-side (ticket)", False),
    ],
)
def test_failure_kinds_each_write_exactly_one_row(setup, pid, error_type, error_code, triage, has_request_id):
    db, client, items, ids = setup
    res = _act(client, "item_status", items[pid])
    assert (res.outcome, res.error_type, res.error_code, res.triage) == ("error", error_type, error_code, triage)
    assert res.status_after == "good"  # none of these says anything about the login
    rows = events(db)
    assert [(r["item_id"], r["plaid_method"], r["error_type"], r["error_code"]) for r in rows] == [
        (ids[pid], "itemGet", error_type, error_code)]
    assert (rows[0]["request_id"] is not None) is has_request_id


def test_rate_limited_item_is_retried_with_backoff_and_every_try_logged(setup):
    db, client, items, ids = setup
    delays: list[float] = []
    res = run_action(client, "item_status", items["item-limited"], limiter=RateLimiter(), sleep=delays.append)
    assert delays == [2.0, 4.0, 8.0]
    assert (res.calls, res.rate_limited, res.error_code) == (4, 3, "RATE_LIMIT")
    rows = events(db)
    assert [(r["plaid_method"], r["error_type"], r["error_code"]) for r in rows] == [
        ("itemGet", "RATE_LIMIT_EXCEEDED", "RATE_LIMIT")] * 4
    assert len({r["request_id"] for r in rows}) == 4


def test_connection_failure_is_logged(db):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ids = add_items(db, [("item-x", TOKENS["item-ok"], "ins_109508")])
    client = LoggedPlaidClient(build_api(f"http://127.0.0.1:{port}", STANDIN_CLIENT_ID, STANDIN_SECRET), db)
    res = _act(client, "balance_refresh", load_items(db, [ids["item-x"]])[0])
    assert (res.error_type, res.error_code, res.triage) == (
        "DASHBOARD_CLIENT_ERROR", "CLIENT_CONNECTION_FAILED", "integration bug")
    assert [(r["plaid_method"], r["error_code"], r["request_id"]) for r in events(db)] == [
        ("accountsBalanceGet", "CLIENT_CONNECTION_FAILED", None)]


def test_wrong_credentials_give_plaids_error(db, standin):
    ids = add_items(db, [("item-x", TOKENS["item-ok"], "ins_109508")])
    client = LoggedPlaidClient(build_api(standin.url, STANDIN_CLIENT_ID, "wrong"), db)
    res = _act(client, "item_status", load_items(db, [ids["item-x"]])[0])
    assert (res.error_type, res.error_code, res.triage) == ("INVALID_INPUT", "INVALID_API_KEYS", "integration bug")
    assert len(events(db)) == 1


def test_transactions_sync_follows_has_more_and_stores_cursor(setup):
    db, client, items, ids = setup
    res = _act(client, "transactions_sync", items["item-ok"])
    assert res.outcome == "ok" and res.calls == 3
    rows = events(db)
    assert [r["plaid_method"] for r in rows] == ["transactionsSync"] * 3
    # First page from the stored cursor, the next ones from the previous page's next_cursor.
    args = [json.loads(r["arguments"])[0] for r in rows]
    assert args[0] == {"access_token": "[REDACTED]", "cursor": "old-cursor"}
    assert args[1]["cursor"].endswith(".1") and args[2]["cursor"].endswith(".2")
    assert _status(db, ids["item-ok"]).transactions_cursor.endswith(".3")


def test_transactions_sync_failing_midway_keeps_the_old_cursor(setup):
    db, client, items, ids = setup
    res = _act(client, "transactions_sync", items["item-mutation"])
    assert (res.outcome, res.error_code, res.calls) == ("error", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", 2)
    assert [(r["error_code"]) for r in events(db)] == [None, "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION"]
    assert _status(db, ids["item-mutation"]).transactions_cursor == "old-cursor"


def test_balance_refresh_updates_the_items_accounts(setup):
    db, client, items, ids = setup
    res = _act(client, "balance_refresh", items["item-ok"])
    assert res.outcome == "ok" and res.message == "Balances updated for 2 account(s)."
    with db.connect() as conn:
        bal = conn.execute(text("SELECT plaid_account_id, current_balance FROM accounts_table "
                                "WHERE item_id = :i ORDER BY id"), {"i": ids["item-ok"]}).all()
        other = conn.execute(text("SELECT count(*) FROM accounts_table WHERE current_balance <> 1")).scalar_one()
    assert [b[0] for b in bal] == ["acct-item-ok-0", "acct-item-ok-1"]
    assert all(b[1] != 1 for b in bal) and other == 2
    [row] = events(db)
    assert row["plaid_method"] == "accountsBalanceGet"
    assert json.loads(row["arguments"]) == [
        {"access_token": "[REDACTED]", "options": {"account_ids": ["acct-item-ok-0", "acct-item-ok-1"]}}]


def test_reset_login_in_sandbox_then_status_reports_login_required(setup):
    db, client, items, ids = setup
    res = _act(client, "reset_login", items["item-ok"])
    assert res.outcome == "ok" and res.status_after == "bad"
    res2 = _act(client, "item_status", load_items(db, [ids["item-ok"]])[0])
    assert res2.error_code == "ITEM_LOGIN_REQUIRED"
    # /item/get itself succeeds (no error on the row); the Item's own error makes it bad.
    assert res2.triage == "user action" and res2.status_after == "bad" and res2.request_ids
    assert [(r["plaid_method"], r["error_code"]) for r in events(db)] == [
        ("sandboxItemResetLogin", None), ("itemGet", None)]


def test_reset_login_refused_in_production(setup, standin):
    db, _, items, _ = setup
    client = client_for(db, standin, plaid_env="production")
    with pytest.raises(ActionNotAllowed):
        _act(client, "reset_login", items["item-ok"])
    assert events(db) == []


def test_log_write_failure_is_loud(setup):
    db, client, items, _ = setup
    with db.begin() as conn:  # make the event insert fail
        conn.execute(text("ALTER TABLE plaid_api_events_table ADD CONSTRAINT no_writes CHECK (false) NOT VALID"))
    with pytest.raises(LogWriteError, match="could not be written"):
        _act(client, "item_status", items["item-ok"])


def test_institution_name_lookup_is_logged_without_item(db, standin):
    client = client_for(db, standin)
    assert fetch_institution_name(client, "ins_109508") == "First Platypus Bank"
    assert fetch_institution_name(client, "ins_nope") is None
    assert [(r["item_id"], r["plaid_method"], r["error_code"], json.loads(r["arguments"])) for r in events(db)] == [
        (None, "institutionsGetById", None, [{"institution_id": "ins_109508", "country_codes": ["US"]}]),
        (None, "institutionsGetById", "INVALID_INSTITUTION",
         [{"institution_id": "ins_nope", "country_codes": ["US"]}]),
    ]


def test_make_client_without_credentials_uses_the_standin(db):
    from dashboard.config import load_settings

    client = make_client(load_settings({}), db)
    assert client.simulated and client.plaid_env == "sandbox"
    real = make_client(load_settings({"PLAID_CLIENT_ID": "id", "PLAID_SECRET": "s", "PLAID_ENV": "production"}), db)
    assert not real.simulated and real.plaid_env == "production"
    assert real.api.api_client.configuration.host == "https://production.plaid.com"


def test_sync_changes_are_stored_like_patterns_server(db):
    from dashboard.refresh_actions import apply_transactions

    add_items(db, [("item-x", TOKENS["item-ok"], "ins_109508")], accounts=1)
    added = {"transaction_id": "txn-1", "account_id": "acct-item-x-0", "category_id": "13005000",
             "category": ["Food and Drink", "Restaurants"], "payment_channel": "in store", "name": "Cafe",
             "amount": 4.5, "iso_currency_code": "USD", "unofficial_currency_code": None,
             "date": "2026-11-30", "pending": False, "account_owner": None}
    with db.begin() as conn:
        apply_transactions(conn, [added, {**added, "transaction_id": "txn-2", "amount": 9}], [])
        apply_transactions(conn, [{**added, "amount": 5.25, "pending": True}], [{"transaction_id": "txn-2"}])
    with db.connect() as conn:
        rows = conn.execute(text("SELECT plaid_transaction_id, category, type, name, amount, date::text, pending "
                                 "FROM transactions_table")).all()
    assert [tuple(r) for r in rows] == [("txn-1", "Food and Drink", "in store", "Cafe", 5.25, "2026-11-30", True)]


def test_invalid_request_is_our_bug_and_never_logged_as_a_call(setup):
    db, client, items, _ = setup
    from plaid import ApiTypeError

    with pytest.raises(ApiTypeError, match="count"):
        client.call("transactions_sync", {"count": "many"}, item=items["item-ok"])
    assert events(db) == []
