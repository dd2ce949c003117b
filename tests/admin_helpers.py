"""Shared set-up for the admin tests: items with scenario tokens, a stand-in, a client."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard.plaid_client import LoggedPlaidClient, build_api
from dashboard.plaid_standin import STANDIN_CLIENT_ID, STANDIN_SECRET, PlaidStandin


def add_items(engine: Engine, specs: list[tuple[str, str, str]], *, accounts: int = 0) -> dict[str, int]:
    """specs: (plaid_item_id, access_token, institution); returns plaid_item_id -> items_table.id."""
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        uid = conn.execute(
            text("INSERT INTO users_table (username) VALUES ('admin-test-' || md5(random()::text)) RETURNING id")
        ).scalar_one()
        for pid, token, ins in specs:
            iid = conn.execute(
                text("INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, plaid_institution_id, "
                     "status, transactions_cursor) VALUES (:u, :t, :p, :i, 'good', 'old-cursor') RETURNING id"),
                {"u": uid, "t": token, "p": pid, "i": ins},
            ).scalar_one()
            ids[pid] = iid
            for k in range(accounts):
                conn.execute(
                    text("INSERT INTO accounts_table (item_id, plaid_account_id, name, mask, type, subtype, "
                         "current_balance, available_balance) VALUES (:i, :a, 'Checking', '0000', 'depository', "
                         "'checking', 1, 1)"),
                    {"i": iid, "a": f"acct-{pid}-{k}"},
                )
    return ids


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT item_id, user_id, plaid_method, arguments, request_id, error_type, error_code "
            "FROM plaid_api_events_table ORDER BY id"))]


def client_for(engine: Engine, server: PlaidStandin, *, timeout: tuple[float, float] = (2.0, 5.0),
               plaid_env: str = "sandbox") -> LoggedPlaidClient:
    return LoggedPlaidClient(build_api(server.url, STANDIN_CLIENT_ID, STANDIN_SECRET), engine,
                             plaid_env=plaid_env, simulated=True, timeout=timeout)
