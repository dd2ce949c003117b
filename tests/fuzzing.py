"""Shared pieces of the input fuzzing: generated text worth trying, and the
check that a database came through untouched (no injection).
"""

from __future__ import annotations

from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

SENTINEL_USER = "fuzz-sentinel-user"
INJECTIONS = (
    "'; DROP TABLE users_table; --",
    "x' OR '1'='1",
    "1; DELETE FROM items_table",
    "') UNION SELECT plaid_access_token FROM items_table --",
    "%' AND pg_sleep(5) IS NULL --",
    "\\'; TRUNCATE plaid_api_events_table; --",
    ":row_limit",
    "%(start)s",
    "$1",
    "%_%",
    "\\",
    "\x00",
    "ins_109511\x00'",
    "<script>alert(1)</script>",
    "**bold** [link](javascript:alert(1)) `code` $x$",
    "2026-11-20T13:00'; DROP TABLE items_table; --",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "2026-02-30",
    " " * 3,
    "🙂" * 20,
    "a" * 5000,
)


def free_text() -> st.SearchStrategy[str]:
    """What people (and attackers) type: random text, SQL and markdown payloads, odd dates."""
    return st.one_of(
        st.sampled_from(INJECTIONS),
        st.text(max_size=80),
        st.text(alphabet="'\";%_\\-:()*[]`$\x00 abcAB019", max_size=40),
        st.datetimes().map(lambda d: d.isoformat()),
    )


def plant_sentinel(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users_table (username) VALUES (:u)"), {"u": SENTINEL_USER})


def database_fingerprint(engine: Engine) -> dict[str, object]:
    """Every table's row count, the list of tables, and the sentinel row."""
    with engine.connect() as conn:
        tables = sorted(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars()
        )
        counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}
        sentinel = conn.execute(
            text("SELECT id, username, created_at FROM users_table WHERE username = :u"), {"u": SENTINEL_USER}
        ).all()
    return {"tables": tables, "counts": counts, "sentinel": [tuple(r) for r in sentinel]}


# Messages that mean a query failed rather than a clear refusal of bad input.
SQL_TROUBLE = ("rejected the query", "not reachable", "took longer than the dashboard allows")
