"""Items whose access tokens name a stand-in scenario, for Plaid-fault tests.

The stand-in (dashboard/plaid_standin.py) reads the scenario from the token
(`access-sandbox-<scenario>-…`): healthy, slow, server_error (HTTP 500),
rate_limited (HTTP 429), malformed (a truncated JSON body). The faults sit
in the middle of the batch, between healthy items.
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.engine import Engine

FAULT_INSTITUTION = "ins_990002"  # a well-formed id: the admin filter validates institution ids
# (scenario, plaid_item_id) in batch order: faults between healthy items.
FAULT_ITEMS: tuple[tuple[str, str], ...] = (
    ("healthy", "fault-lab-item-1-healthy"),
    ("healthy", "fault-lab-item-2-healthy"),
    ("slow", "fault-lab-item-3-slow"),
    ("server-error", "fault-lab-item-4-server-error"),
    ("rate-limited", "fault-lab-item-5-rate-limited"),
    ("malformed", "fault-lab-item-6-malformed"),
    ("healthy", "fault-lab-item-7-healthy"),
)


def add_fault_items(engine: Engine) -> dict[str, tuple[int, str]]:
    """Insert the fault items (one user); returns plaid_item_id -> (items_table.id, access token)."""
    out: dict[str, tuple[int, str]] = {}
    with engine.begin() as conn:
        uid = conn.execute(
            text("INSERT INTO users_table (username) VALUES (:u) RETURNING id"),
            {"u": f"fault-lab-{uuid.uuid4().hex[:8]}"},
        ).scalar_one()
        for scenario, pid in FAULT_ITEMS:
            token = f"access-sandbox-{scenario}-{uuid.uuid4()}"
            iid = conn.execute(
                text(
                    "INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, "
                    "plaid_institution_id, status) VALUES (:u, :t, :p, :i, 'good') RETURNING id"
                ),
                {"u": uid, "t": token, "p": pid, "i": FAULT_INSTITUTION},
            ).scalar_one()
            out[pid] = (iid, token)
    return out


def logged_calls(engine: Engine, item_ids: list[int]) -> dict[int, list[tuple[str, str | None]]]:
    """item id -> [(plaid_method, error_code)] of every logged call, in order."""
    calls: dict[int, list[tuple[str, str | None]]] = {i: [] for i in item_ids}
    with engine.connect() as conn:
        for item_id, method, code in conn.execute(
            text(
                "SELECT item_id, plaid_method, error_code FROM plaid_api_events_table "
                "WHERE item_id = ANY(:ids) ORDER BY id"
            ),
            {"ids": item_ids},
        ):
            calls[item_id].append((method, code))
    return calls
