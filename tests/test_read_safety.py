"""Page reads cannot harm the database: read-only, and stopped by a statement timeout."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard.database import DatabaseError, QueryTimeout, read_frame, read_only, read_rows

SLOW = "SELECT pg_sleep(2) AS slept FROM generate_series(1, 1) LIMIT :row_limit"


def test_a_query_past_the_timeout_raises_query_timeout_suggesting_a_shorter_window(db):
    with pytest.raises(QueryTimeout) as caught:
        read_frame(db, SLOW, {"row_limit": 1}, timeout_ms=100)
    assert "shorter time window" in caught.value.user_message
    assert "pg_sleep" not in caught.value.user_message  # no SQL on the screen


def test_the_timeout_comes_from_the_environment_by_default(db, monkeypatch):
    monkeypatch.setenv("DASHBOARD_STATEMENT_TIMEOUT_MS", "100")
    with pytest.raises(QueryTimeout):
        read_rows(db, SLOW, {"row_limit": 1})
    monkeypatch.setenv("DASHBOARD_STATEMENT_TIMEOUT_MS", "5000")
    assert read_rows(db, "SELECT 1 AS one LIMIT :row_limit", {"row_limit": 1}) == [{"one": 1}]


def test_a_write_inside_read_only_fails_and_changes_nothing(db):
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users_table (username) VALUES ('kept')"))
    with pytest.raises(DatabaseError), read_only(db) as conn:
        conn.execute(text("INSERT INTO users_table (username) VALUES ('intruder')"))
    with pytest.raises(DatabaseError):
        read_rows(db, "WITH d AS (DELETE FROM users_table RETURNING id) SELECT id FROM d LIMIT :row_limit",
                  {"row_limit": 1})
    with db.connect() as conn:
        assert conn.execute(text("SELECT username FROM users_table")).scalars().all() == ["kept"]


def test_the_timeout_is_scoped_to_the_read_transaction(db):
    with read_only(db, timeout_ms=1234) as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1234ms"
        assert conn.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    with db.connect() as conn:  # the pooled connection is back to the server default
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"
