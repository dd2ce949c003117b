"""Small constructed Pattern datasets for the health tests (exact figures)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

from sqlalchemy import text
from sqlalchemy.engine import Connection

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)  # end of the test window
_req = count(1)


def h(hours: float) -> datetime:
    """T0 + hours (negative: before the window's end)."""
    return T0 + timedelta(hours=hours)


def add_user(conn: Connection, username: str) -> int:
    return conn.execute(
        text("INSERT INTO users_table (username) VALUES (:u) RETURNING id"), {"u": username}
    ).scalar_one()


def add_item(conn: Connection, user_id: int, plaid_item_id: str, institution: str, status: str = "good") -> int:
    return conn.execute(
        text(
            "INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status, "
            "created_at) VALUES (:u, :tok, :p, :ins, :s, :c) RETURNING id"
        ),
        {"u": user_id, "tok": f"access-sandbox-secret-{plaid_item_id}", "p": plaid_item_id, "ins": institution,
         "s": status, "c": T0 - timedelta(days=60)},
    ).scalar_one()


def add_event(
    conn: Connection,
    item_id: int | None,
    user_id: int | None,
    at: datetime,
    code: str | None = None,
    etype: str | None = None,
    method: str = "transactionsSync",
) -> None:
    failed = code is not None or etype is not None
    conn.execute(
        text(
            "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, arguments, request_id, "
            "error_type, error_code, created_at) VALUES (:i, :u, :m, :a, :r, :t, :c, :at)"
        ),
        {"i": item_id, "u": user_id, "m": method, "a": '[{"access_token":"access-sandbox-secret-x"}]',
         "r": f"req{next(_req)}" if failed else None, "t": etype if failed else None, "c": code, "at": at},
    )


def add_link(conn: Connection, user_id: int, at: datetime, kind: str = "exit", code: str | None = None,
             status: str | None = None, session: str = "ls-1") -> None:
    conn.execute(
        text(
            "INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type, error_code, "
            "status, created_at) VALUES (:k, :u, :s, :r, :t, :c, :st, :at)"
        ),
        {"k": kind, "u": user_id, "s": session, "r": f"lreq{next(_req)}" if code else None,
         "t": "ITEM_ERROR" if code else None, "c": code, "st": status, "at": at},
    )


# Each history: (name, institution, status, events as (hours from T0, code, type)), and the
# health the rule must derive for it as of T0 with a 24 h window.
HISTORIES: tuple[tuple[str, str, str, tuple[tuple[float, str | None, str | None], ...], str], ...] = (
    ("itemHealthyA", "ins_1", "good", ((-5, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR"), (-2, None, None)), "healthy"),
    ("itemUserB", "ins_1", "good", ((-20, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR"), (-10, None, None),
                                    (-3, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR"),
                                    (-2, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")), "needs user action"),
    ("itemBadC", "ins_1", "bad", ((-4, None, None), (-1, None, None)), "needs user action"),
    ("itemOursD", "ins_2", "good", ((-30, None, None), (-1, "INVALID_ACCESS_TOKEN", "INVALID_INPUT")),
     "broken by our integration"),
    ("itemTransE", "ins_2", "good", ((-3, None, None), (-2, "INSTITUTION_DOWN", "INSTITUTION_ERROR")),
     "failing transiently"),
    ("itemPersistF", "ins_3", "good", ((-20, None, None), (-10, "INSTITUTION_DOWN", "INSTITUTION_ERROR"),
                                       (-1, "INSTITUTION_DOWN", "INSTITUTION_ERROR")), "Plaid-side"),
    ("itemPlaidG", "ins_3", "good", ((-1, "UNSUPPORTED_RESPONSE", "ITEM_ERROR"),), "Plaid-side"),
    ("itemUnknownH", "ins_3", "good", ((-1, "WEIRD_NEW_CODE", "WEIRD_TYPE"),), "failing transiently"),
    ("itemFallbackI", "ins_3", "good", ((-1, "SOME_NEW_FIELD_CODE", "INVALID_REQUEST"),),
     "broken by our integration"),
    ("itemQuietJ", "ins_4", "good", (), "healthy"),
    ("itemOldK", "ins_4", "good", ((-240, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR"),), "healthy"),
    ("itemFutureL", "ins_4", "good", ((-1, None, None), (1, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")), "healthy"),
)


def build_histories(conn: Connection) -> dict[str, tuple[int, int]]:
    """Insert HISTORIES (one user per item, users u-<name>); returns name -> (item id, user id)."""
    ids = {}
    for name, ins, status, events, _expected in HISTORIES:
        uid = add_user(conn, f"u-{name}")
        iid = add_item(conn, uid, name, ins, status)
        for hours, code, etype in events:
            add_event(conn, iid, uid, h(hours), code, etype)
        ids[name] = (iid, uid)
    return ids
