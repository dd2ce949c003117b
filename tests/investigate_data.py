"""A small constructed Pattern dataset for the investigate tests (exact figures).

Two users, two items, six API events and three Link events, placed relative
to NOW so the page's preset windows see them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.engine import Engine

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
TOKEN_1 = "access-sandbox-0b5a3c1e-1111-4aaa-a111-0123456789ab"
TOKEN_2 = "access-production-9f8e7d6c-2222-4bbb-b222-ba9876543210"
PUBLIC_TOKEN = "public-sandbox-7e1d2c3b-3333-4ccc-c333-abcdefabcdef"
ITEM_1 = "ItemAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"  # 37 characters, like Plaid's
ITEM_2 = "ItemBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
SESSION_1 = "0f0e0d0c-0b0a-4909-a807-060504030201"
SESSION_2 = "1f1e1d1c-1b1a-4919-a817-161514131211"
SESSION_3 = "2f2e2d2c-2b2a-4929-a827-262524232221"
# request_ids (15 characters, like Plaid's)
REQ_LOGIN_1 = "RqLoginAaaaaaa1"
REQ_LOGIN_2 = "RqLoginAaaaaaa2"
REQ_DOWN = "RqInstDownaaaa3"
REQ_PLAID = "RqUnsupportedb1"
REQ_LINK = "RqLinkCredsaaa1"
TOKENS = (TOKEN_1, TOKEN_2, PUBLIC_TOKEN)


def _args(**kw: str) -> str:
    return json.dumps([kw])


def at(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def build(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users_table (id, username) VALUES (1, 'alice'), (2, 'bob'), (3, '2')"))
        conn.execute(
            text(
                "INSERT INTO items_table (id, user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status)"
                " VALUES (1, 1, :t1, :i1, 'ins_109508', 'bad'), (2, 2, :t2, :i2, 'ins_109509', 'good')"
            ),
            {"t1": TOKEN_1, "t2": TOKEN_2, "i1": ITEM_1, "i2": ITEM_2},
        )
        sync_args = '[{"access_token":"%s","cursor":null,"count":100}]'
        api = [
            # id, item, user, method, arguments, request_id, error_type, error_code, hours ago
            (1, 1, 1, "transactionsSync", sync_args % TOKEN_1, REQ_LOGIN_1, "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 2),
            (2, 1, 1, "transactionsSync", sync_args % TOKEN_1, None, None, None, 3),
            (3, 1, 1, "accountsGet", _args(access_token=TOKEN_1), REQ_LOGIN_2, "ITEM_ERROR",
             "ITEM_LOGIN_REQUIRED", 5),
            (4, 2, 2, "accountsGet", _args(access_token=TOKEN_2), REQ_PLAID, "ITEM_ERROR",
             "UNSUPPORTED_RESPONSE", 1),
            (5, 1, 1, "transactionsSync", sync_args % TOKEN_1, REQ_DOWN, "INSTITUTION_ERROR", "INSTITUTION_DOWN", 30),
            (6, None, None, "itemPublicTokenExchange", _args(public_token=PUBLIC_TOKEN), None, None, None,
             1.5),
        ]
        conn.execute(
            text(
                "INSERT INTO plaid_api_events_table (id, item_id, user_id, plaid_method, arguments, request_id,"
                " error_type, error_code, created_at) VALUES (:id, :item, :user, :m, :a, :r, :et, :ec, :t)"
            ),
            [
                {"id": i, "item": it, "user": u, "m": m, "a": a, "r": r, "et": et, "ec": ec, "t": at(h)}
                for i, it, u, m, a, r, et, ec, h in api
            ],
        )
        link = [
            (1, "exit", 1, SESSION_1, REQ_LINK, "ITEM_ERROR", "INVALID_CREDENTIALS", "requires_credentials", 4),
            (2, "success", 1, SESSION_2, None, None, None, None, 6),
            (3, "exit", 2, SESSION_3, None, None, None, "requires_oauth", 2),
        ]
        conn.execute(
            text(
                "INSERT INTO link_events_table (id, type, user_id, link_session_id, request_id, error_type,"
                " error_code, status, created_at) VALUES (:id, :ty, :u, :s, :r, :et, :ec, :st, :t)"
            ),
            [
                {"id": i, "ty": ty, "u": u, "s": s, "r": r, "et": et, "ec": ec, "st": st, "t": at(h)}
                for i, ty, u, s, r, et, ec, st, h in link
            ],
        )
        for seq in ("users_table_id_seq", "items_table_id_seq", "plaid_api_events_table_id_seq",
                    "link_events_table_id_seq"):
            conn.execute(text("SELECT setval(CAST(:s AS regclass), 100)"), {"s": seq})
