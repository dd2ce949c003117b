"""Hourly rollups: exact counts, the id watermark, late rows, in-flight gaps, and
reads through the rollup that equal reads of the raw tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from dashboard import rollups
from dashboard.rollups import (
    API_EVENTS_SQL,
    API_ITEM_ERRORS_SQL,
    LINK_EVENTS_SQL,
    maybe_refresh,
    rebuild_rollups,
    refresh_rollups,
    rollup_params,
)

T0 = datetime(2026, 3, 8, 10, tzinfo=timezone.utc)


def _items(conn) -> None:
    conn.execute(text("INSERT INTO users_table (id, username) VALUES (1, 'a'), (2, 'b')"))
    conn.execute(text(
        "INSERT INTO items_table (id, user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status) "
        "VALUES (1, 1, 'access-1', 'item-1', 'ins_1', 'good'), (2, 1, 'access-2', 'item-2', 'ins_2', 'bad'), "
        "(3, 2, 'access-3', 'item-3', 'ins_1', 'good')"))


def _api(conn, rows: list[tuple]) -> None:
    """rows: (item_id, method, error_code or None, minutes after T0)."""
    conn.execute(
        text(
            "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, error_type, error_code, created_at) "
            "VALUES (:item, CASE WHEN :item IS NOT NULL THEN 1 END, :m, "
            "CASE WHEN :c IS NOT NULL THEN 'ITEM_ERROR' END, :c, :t)"
        ),
        [{"item": i, "m": m, "c": c, "t": T0 + timedelta(minutes=mins)} for i, m, c, mins in rows],
    )


def _link(conn, rows: list[tuple]) -> None:
    """rows: (type, error_code or None, status or None, minutes after T0)."""
    conn.execute(
        text(
            "INSERT INTO link_events_table (type, user_id, link_session_id, error_type, error_code, status, "
            "created_at) "
            "VALUES (:ty, 1, md5(random()::text), CASE WHEN :c IS NOT NULL THEN 'ITEM_ERROR' END, :c, :st, :t)"
        ),
        [{"ty": ty, "c": c, "st": st, "t": T0 + timedelta(minutes=mins)} for ty, c, st, mins in rows],
    )


BASE_API = [
    (1, "transactionsSync", None, 5),
    (1, "transactionsSync", None, 50),
    (1, "transactionsSync", "ITEM_LOGIN_REQUIRED", 55),
    (2, "transactionsSync", "ITEM_LOGIN_REQUIRED", 65),
    (2, "accountsGet", "ITEM_LOGIN_REQUIRED", 70),
    (None, "linkTokenCreate", None, 75),  # no item: institution NULL
    (None, "itemRemove", "ITEM_NOT_FOUND", 130),  # deleted item: item_id NULL
    (3, "transactionsSync", None, 125),
    (3, "transactionsSync", "INSTITUTION_DOWN", 126),
]


def _hourly(conn) -> set[tuple]:
    return {
        (r.hour.astimezone(timezone.utc).hour, r.plaid_method, r.error_code, r.plaid_institution_id, r.calls)
        for r in conn.execute(text("SELECT * FROM dashboard_api_hourly"))
    }


def test_exact_hourly_counts_per_method_code_and_institution(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
        _link(conn, [("success", None, None, 1), ("exit", "INVALID_CREDENTIALS", "requires_credentials", 2),
                     ("exit", None, "requires_code", 70), ("exit", None, "requires_code", 71)])
    result = refresh_rollups(db)
    assert result.ran and result.rows == {"plaid_api_events_table": 9, "link_events_table": 4}
    with db.connect() as conn:
        assert _hourly(conn) == {
            (10, "transactionsSync", None, "ins_1", 2),
            (10, "transactionsSync", "ITEM_LOGIN_REQUIRED", "ins_1", 1),
            (11, "transactionsSync", "ITEM_LOGIN_REQUIRED", "ins_2", 1),
            (11, "accountsGet", "ITEM_LOGIN_REQUIRED", "ins_2", 1),
            (11, "linkTokenCreate", None, None, 1),
            (12, "itemRemove", "ITEM_NOT_FOUND", None, 1),
            (12, "transactionsSync", None, "ins_1", 1),
            (12, "transactionsSync", "INSTITUTION_DOWN", "ins_1", 1),
        }
        items = {(r.hour.astimezone(timezone.utc).hour, r.item_id, r.plaid_method, r.error_code, r.errors)
                 for r in conn.execute(text("SELECT * FROM dashboard_api_item_hourly"))}
        assert items == {(10, 1, "transactionsSync", "ITEM_LOGIN_REQUIRED", 1),
                         (11, 2, "transactionsSync", "ITEM_LOGIN_REQUIRED", 1),
                         (11, 2, "accountsGet", "ITEM_LOGIN_REQUIRED", 1),
                         (12, 3, "transactionsSync", "INSTITUTION_DOWN", 1)}
        link = {(r.hour.astimezone(timezone.utc).hour, r.type, r.error_code, r.status, r.events)
                for r in conn.execute(text("SELECT * FROM dashboard_link_hourly"))}
        assert link == {(10, "success", None, None, 1), (10, "exit", "INVALID_CREDENTIALS", "requires_credentials", 1),
                        (11, "exit", None, "requires_code", 2)}
        first, last = conn.execute(text(
            "SELECT first_at, last_at FROM dashboard_api_hourly WHERE plaid_method = 'transactionsSync' "
            "AND error_code IS NULL AND hour = :h"), {"h": T0}).one()
        assert (first, last) == (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50))


def test_watermark_aggregates_each_row_once_and_counts_late_rows_in_their_hour(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
    refresh_rollups(db)
    again = refresh_rollups(db)
    assert again.rows == {"plaid_api_events_table": 0, "link_events_table": 0}
    with db.connect() as conn:
        before = _hourly(conn)
    # A late row: written now, stamped two hours ago (its hour is already rolled up).
    with db.begin() as conn:
        _api(conn, [(1, "transactionsSync", None, 20), (1, "itemGet", None, 21)])
    late = refresh_rollups(db)
    assert late.rows["plaid_api_events_table"] == 2
    assert late.watermarks["plaid_api_events_table"] == 11
    with db.connect() as conn:
        after = _hourly(conn)
        total = conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one()
    assert after == (before - {(10, "transactionsSync", None, "ins_1", 2)}) | {
        (10, "transactionsSync", None, "ins_1", 3), (10, "itemGet", None, "ins_1", 1)}
    assert total == 11
    # A rebuild from scratch gives the same rollup.
    rebuild_rollups(db)
    with db.connect() as conn:
        assert _hourly(conn) == after


def test_max_rows_moves_the_watermark_in_steps(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
    first = refresh_rollups(db, max_rows=4)
    assert first.rows["plaid_api_events_table"] == 4 and first.watermarks["plaid_api_events_table"] == 4
    second = refresh_rollups(db, max_rows=4)
    assert second.watermarks["plaid_api_events_table"] == 8
    refresh_rollups(db, max_rows=4)
    with db.connect() as conn:
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 9


def test_a_second_refresh_does_not_wait_for_a_running_one(db):
    with db.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": rollups._LOCK_KEY})
        assert refresh_rollups(db).ran is False
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": rollups._LOCK_KEY})
        holder.commit()
    assert refresh_rollups(db).ran is True


def test_an_insert_still_in_flight_is_counted_when_it_commits(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API[:3])
    refresh_rollups(db)
    slow = db.connect()
    slow.execute(text(  # takes id 4 and does not commit yet
        "INSERT INTO plaid_api_events_table (item_id, plaid_method, error_type, error_code, created_at) "
        "VALUES (2, 'itemGet', 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', :t)"), {"t": T0 + timedelta(minutes=30)})
    with db.begin() as conn:
        _api(conn, [(1, "itemGet", None, 31)])  # id 5, committed
    assert refresh_rollups(db).watermarks["plaid_api_events_table"] == 5
    with db.connect() as conn:
        assert conn.execute(text("SELECT id FROM dashboard_rollup_gaps")).scalars().all() == [4]
    slow.commit()
    slow.close()
    window = rollup_params(T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    assert _via_rollup(db, window) == _raw(db, window)  # read from the raw table until refreshed
    refresh_rollups(db)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dashboard_rollup_gaps")).scalar_one() == 0
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 5
    assert _via_rollup(db, window) == _raw(db, window)


_BY = "plaid_method, error_code, plaid_institution_id"


def _via_rollup(engine, params) -> dict:
    with engine.connect() as conn:
        api = conn.execute(text(
            f"SELECT {_BY}, sum(n), min(first_at), max(last_at) FROM ({API_EVENTS_SQL}) e GROUP BY {_BY}"), params)
        items = conn.execute(text(
            f"SELECT error_code, count(DISTINCT item_id), sum(n) FROM ({API_ITEM_ERRORS_SQL}) e GROUP BY 1"), params)
        link = conn.execute(text(
            f"SELECT type, error_code, status, sum(n) FROM ({LINK_EVENTS_SQL}) e GROUP BY 1, 2, 3"), params)
        return {"api": set(map(tuple, api)), "items": set(map(tuple, items)), "link": set(map(tuple, link))}


def _raw(engine, params) -> dict:
    with engine.connect() as conn:
        api = conn.execute(text(
            f"SELECT {_BY}, count(*), min(e.created_at), max(e.created_at) FROM plaid_api_events_table e "
            f"LEFT JOIN items_table i ON i.id = e.item_id "
            f"WHERE e.created_at >= :rollup_start AND e.created_at < :rollup_end "
            f"GROUP BY {_BY}"), params)
        items = conn.execute(text(
            "SELECT error_code, count(DISTINCT item_id), count(*) FROM plaid_api_events_table e "
            "WHERE e.created_at >= :rollup_start AND e.created_at < :rollup_end AND error_code IS NOT NULL "
            "AND item_id IS NOT NULL GROUP BY 1"), params)
        link = conn.execute(text(
            "SELECT type, error_code, status, count(*) FROM link_events_table e "
            "WHERE e.created_at >= :rollup_start AND e.created_at < :rollup_end GROUP BY 1, 2, 3"), params)
        return {"api": set(map(tuple, api)), "items": set(map(tuple, items)), "link": set(map(tuple, link))}


@pytest.mark.parametrize(
    ("start_min", "end_min"),
    [(-30, 240), (7, 127), (5, 50), (0, 180), (51, 66), (60, 120)],
    ids=["covers-all", "partial-hours-both-ends", "inside-one-hour", "hour-aligned", "across-one-boundary",
         "exactly-one-hour"],
)
def test_reads_through_the_rollup_equal_reads_of_the_raw_tables(db, start_min, end_min):
    start, end = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)

    def same() -> bool:
        # With and without this process's watermark hints: the hints never change a figure.
        raw = _raw(db, rollup_params(start, end))
        return _via_rollup(db, rollup_params(start, end)) == raw == _via_rollup(db, rollup_params(start, end, db))

    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
        _link(conn, [("success", None, None, 1), ("exit", "INVALID_CREDENTIALS", "requires_credentials", 62),
                     ("exit", None, "requires_code", 121)])
    assert same()  # nothing rolled up yet: all raw
    refresh_rollups(db)
    assert same()
    with db.begin() as conn:  # late rows and new rows, not refreshed yet
        _api(conn, [(2, "transactionsSync", "ITEM_LOGIN_REQUIRED", 61), (None, "institutionsGet", None, 62),
                    (3, "transactionsSync", "INSTITUTION_DOWN", 127)])
        _link(conn, [("exit", None, "requires_code", 10)])
    assert same()
    refresh_rollups(db)
    assert same()
    assert _raw(db, rollup_params(start, end))["api"] or end_min - start_min < 60  # not all empty


def test_a_rebuild_never_lowers_the_watermark_readers_see(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
    refresh_rollups(db)
    with db.connect() as reader:
        assert reader.execute(text("SELECT last_id FROM dashboard_rollup_watermarks "
                                   "WHERE source = 'plaid_api_events_table'")).scalar_one() == 9
        reader.commit()
        rebuild_rollups(db)
        assert reader.execute(text("SELECT last_id FROM dashboard_rollup_watermarks "
                                   "WHERE source = 'plaid_api_events_table'")).scalar_one() == 9
    window = rollup_params(T0, T0 + timedelta(hours=3), db)
    assert window["rollup_api_wm"] == 9
    assert _via_rollup(db, window) == _raw(db, window)


def test_rollup_params_cover_whole_hours_only():
    p = rollup_params(datetime(2026, 3, 8, 10, 47, tzinfo=timezone.utc), datetime(2026, 3, 9, 10, 47,
                                                                                    tzinfo=timezone.utc))
    assert (p["rollup_from"], p["rollup_to"]) == (datetime(2026, 3, 8, 11, tzinfo=timezone.utc),
                                                  datetime(2026, 3, 9, 10, tzinfo=timezone.utc))
    inside = rollup_params(datetime(2026, 3, 8, 10, 5, tzinfo=timezone.utc),
                           datetime(2026, 3, 8, 10, 50, tzinfo=timezone.utc))
    assert inside["rollup_from"] == inside["rollup_to"] == inside["rollup_start"]


def test_a_split_inside_the_range_reads_its_hour_raw_and_keeps_figures_exact(db):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
    refresh_rollups(db)
    start, split, end = T0, T0 + timedelta(minutes=72), T0 + timedelta(hours=3)
    params = rollup_params(start, end, db, split=split)
    assert params["rollup_split_hours"] == [T0 + timedelta(hours=1)]
    assert _via_rollup(db, params) == _raw(db, params)
    with db.connect() as conn:  # counting on each side of the split needs the raw hour around it
        sides = conn.execute(text(
            f"SELECT sum(n) FILTER (WHERE created_at < :split), sum(n) FILTER (WHERE created_at >= :split) "
            f"FROM ({API_EVENTS_SQL}) e"), {**params, "split": split}).one()
    assert tuple(sides) == (5, 4)  # 5, 50, 55, 65, 70 | 75, 125, 126, 130 minutes after T0
    aligned = rollup_params(start, end, split=T0 + timedelta(hours=1))
    assert aligned["rollup_split_hours"] == []  # on the hour: nothing to split


def test_buckets_shorter_than_an_hour_read_only_raw_rows():
    start, end = datetime(2026, 3, 8, 10, tzinfo=timezone.utc), datetime(2026, 3, 8, 12, tzinfo=timezone.utc)
    assert rollup_params(start, end, bucket=timedelta(hours=1))["rollup_to"] == end
    assert rollup_params(start, end, bucket=timedelta(days=1))["rollup_to"] == end
    five = rollup_params(start, end, bucket=timedelta(minutes=5))
    assert five["rollup_from"] == five["rollup_to"] == start
    assert rollup_params(start, end, bucket=timedelta(minutes=90))["rollup_to"] == start


def test_maybe_refresh_runs_at_most_once_per_interval(db, monkeypatch):
    monkeypatch.setattr(rollups, "_last_refresh", {})
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API[:2])
    assert maybe_refresh(db) is True
    with db.begin() as conn:
        _api(conn, BASE_API[2:4])
    assert maybe_refresh(db) is False  # within the minute: nothing runs
    with db.connect() as conn:
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 2
    assert maybe_refresh(db, interval_s=0) is True
    with db.connect() as conn:
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 4


def test_maybe_refresh_on_a_read_only_database_does_not_raise(db, monkeypatch):
    monkeypatch.setattr(rollups, "_last_refresh", {})
    with db.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        conn.commit()
    db.dispose()
    assert maybe_refresh(db) is False


def test_the_seed_leaves_the_rollups_complete(seeded):
    with seeded.connect() as conn:
        raw = conn.execute(text("SELECT count(*), count(error_code) FROM plaid_api_events_table")).one()
        rolled = conn.execute(text(
            "SELECT sum(calls), sum(calls) FILTER (WHERE error_code IS NOT NULL) FROM dashboard_api_hourly")).one()
        links = conn.execute(text(
            "SELECT (SELECT count(*) FROM link_events_table), (SELECT sum(events) FROM dashboard_link_hourly)")).one()
    assert tuple(rolled) == tuple(raw)
    assert links[0] == links[1]


def _sessions_via_rollup(engine, params) -> dict:
    """Distinct sessions and successful sessions per type, by the multi-row correction."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"""
            WITH r AS (SELECT type, sum(n) AS n, sum(n) FILTER (WHERE error_code IS NULL) AS ok
                       FROM ({LINK_EVENTS_SQL}) e GROUP BY type),
                 m AS (SELECT type, session, count(*) AS c, count(*) FILTER (WHERE error_code IS NULL) AS ok
                       FROM ({rollups.LINK_MULTI_SESSION_ROWS_SQL}) x GROUP BY type, session),
                 corr AS (SELECT type, sum(greatest(c - 1, 0)) AS c, sum(greatest(ok - 1, 0)) AS ok
                          FROM m GROUP BY type)
            SELECT r.type, r.n - COALESCE(corr.c, 0), r.ok - COALESCE(corr.ok, 0)
            FROM r LEFT JOIN corr USING (type)"""), params)
        return {t: (int(a), int(b)) for t, a, b in rows}


def _sessions_raw(engine, params) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT type, count(DISTINCT COALESCE(link_session_id, 'row:' || id)), "
            "count(DISTINCT COALESCE(link_session_id, 'row:' || id)) FILTER (WHERE error_code IS NULL) "
            "FROM link_events_table e WHERE e.created_at >= :rollup_start AND e.created_at < :rollup_end "
            "GROUP BY type"), params)
        return {t: (int(a), int(b)) for t, a, b in rows}


def test_distinct_link_sessions_from_rollup_rows_minus_multi_row_sessions(db):
    def link(session, ty, code, minutes):
        return {"s": session, "ty": ty, "c": code, "t": T0 + timedelta(minutes=minutes)}

    insert = text("INSERT INTO link_events_table (type, user_id, link_session_id, error_code, created_at) "
                  "VALUES (:ty, 1, :s, :c, :t)")
    with db.begin() as conn:
        conn.execute(insert, [
            link("s1", "exit", "INVALID_CREDENTIALS", 5), link("s1", "exit", None, 20),  # two rows
            link("s2", "success", None, 30), link(None, "exit", None, 40), link(None, "exit", None, 41),
            link("s3", "exit", None, 70), link("s3", "exit", None, 75), link("s3", "exit", "X", 130),
        ])
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=170)

    def same() -> bool:
        raw = _sessions_raw(db, rollup_params(start, end))
        return _sessions_via_rollup(db, rollup_params(start, end, db)) == raw

    assert same()
    refresh_rollups(db)
    with db.connect() as conn:
        assert set(conn.execute(text("SELECT link_session_id FROM dashboard_link_multi_sessions")).scalars()) == {
            "s1", "s3"}
    assert same()
    assert _sessions_raw(db, rollup_params(start, end)) == {"exit": (4, 4), "success": (1, 1)}
    with db.begin() as conn:  # s2 gets a second row, not refreshed yet: found through the tail
        conn.execute(insert, [link("s2", "exit", None, 90), link("s4", "success", None, 95)])
    assert same()
    refresh_rollups(db)
    assert same()
    with db.connect() as conn:
        assert "s2" in set(conn.execute(text("SELECT link_session_id FROM dashboard_link_multi_sessions")).scalars())


def test_whole_days_come_from_the_daily_rollup_and_figures_stay_exact(db):
    with db.begin() as conn:
        _items(conn)
        # Three days of calls, two per hour, at :10 and :40.
        _api(conn, [(1 + h % 3, "transactionsSync", "ITEM_LOGIN_REQUIRED" if h % 5 == 0 else None, h * 60 + m)
                    for h in range(-10, 62) for m in (10, 40)])
    refresh_rollups(db)
    start, end = T0 - timedelta(hours=10, minutes=35), T0 + timedelta(hours=50, minutes=33)
    p = rollup_params(start, end, db)
    assert (p["rollup_day_from"], p["rollup_day_to"]) == (T0 - timedelta(hours=10), T0 + timedelta(hours=38))
    assert _via_rollup(db, p) == _raw(db, p)
    daily = rollup_params(start, end, db, bucket=timedelta(days=1))
    assert daily["rollup_day_to"] > daily["rollup_day_from"]
    assert rollup_params(start, end, db, bucket=timedelta(hours=6))["rollup_day_from"] == p["rollup_from"]
    split = T0 + timedelta(hours=20, minutes=25)  # inside a whole day: that day by the hour, its hour raw
    s = rollup_params(start, end, db, split=split)
    assert s["rollup_split_days"] == [T0 + timedelta(hours=14)]
    with db.connect() as conn:
        sides = conn.execute(text(
            f"SELECT sum(n) FILTER (WHERE created_at < :split), sum(n) FILTER (WHERE created_at >= :split) "
            f"FROM ({API_EVENTS_SQL}) e"), {**s, "split": split}).one()
        raw = conn.execute(text(
            "SELECT count(*) FILTER (WHERE created_at < :split), count(*) FILTER (WHERE created_at >= :split) "
            "FROM plaid_api_events_table WHERE created_at >= :s AND created_at < :e"),
            {"split": split, "s": start, "e": end}).one()
        in_days = conn.execute(text("SELECT sum(calls) FROM dashboard_api_daily")).scalar_one()
    assert tuple(sides) == tuple(raw) and in_days == 144


def test_a_split_on_the_hour_still_splits_its_day():
    start, end = datetime(2026, 3, 6, 12, tzinfo=timezone.utc), datetime(2026, 3, 8, 12, tzinfo=timezone.utc)
    p = rollup_params(start, end, split=datetime(2026, 3, 7, 12, tzinfo=timezone.utc))
    assert p["rollup_split_hours"] == []  # no raw hour needed
    assert p["rollup_split_days"] == [datetime(2026, 3, 7, tzinfo=timezone.utc)]
    at_midnight = rollup_params(start, end, split=datetime(2026, 3, 7, tzinfo=timezone.utc))
    assert at_midnight["rollup_split_days"] == []


def test_rollups_built_by_another_version_are_rebuilt(db, monkeypatch):
    with db.begin() as conn:
        _items(conn)
        _api(conn, BASE_API)
    refresh_rollups(db)
    with db.begin() as conn:  # as if an older version had rolled up without the daily table
        conn.execute(text("DELETE FROM dashboard_api_daily"))
    assert refresh_rollups(db).rows["plaid_api_events_table"] == 0  # same version: nothing to do
    monkeypatch.setattr(rollups, "ROLLUP_VERSION", rollups.ROLLUP_VERSION + 1)
    assert refresh_rollups(db).rows["plaid_api_events_table"] == 9
    with db.connect() as conn:
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_daily")).scalar_one() == 9
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 9


@pytest.mark.parametrize("minutes", [(25, 25), (25, 0), (0, 0)], ids=["off-the-hour", "mixed", "on-the-hour"])
def test_two_splits_keep_the_three_parts_exact(db, minutes):
    with db.begin() as conn:
        _items(conn)
        _api(conn, [(1 + h % 3, "itemGet", "RATE_LIMIT" if h % 4 == 0 else None, h * 60 + m)
                    for h in range(-30, 62) for m in (10, 40)])
    refresh_rollups(db)
    start, end = T0 - timedelta(hours=30, minutes=35), T0 + timedelta(hours=50, minutes=33)
    a = T0 - timedelta(hours=4) + timedelta(minutes=minutes[0])
    b = T0 + timedelta(hours=27) + timedelta(minutes=minutes[1])
    p = rollup_params(start, end, db, split=[a, b])
    with db.connect() as conn:
        parts = conn.execute(text(
            f"SELECT sum(n) FILTER (WHERE created_at < :a), sum(n) FILTER (WHERE created_at >= :a AND created_at < :b),"
            f" sum(n) FILTER (WHERE created_at >= :b),"
            f" sum(n) FILTER (WHERE error_code IS NOT NULL AND created_at >= :b)"
            f" FROM ({API_EVENTS_SQL}) e"), {**p, "a": a, "b": b}).one()
        raw = conn.execute(text(
            "SELECT count(*) FILTER (WHERE created_at < :a), count(*) FILTER (WHERE created_at >= :a "
            "AND created_at < :b), count(*) FILTER (WHERE created_at >= :b), "
            "count(*) FILTER (WHERE error_code IS NOT NULL AND created_at >= :b) "
            "FROM plaid_api_events_table WHERE created_at >= :s AND created_at < :e"),
            {"a": a, "b": b, "s": start, "e": end}).one()
    assert tuple(parts) == tuple(raw)
    assert _via_rollup(db, p) == _raw(db, p)
    with pytest.raises(ValueError):
        rollup_params(start, end, split=[a] * (rollups.MAX_SPLITS + 1))


def test_page_refresh_gives_up_behind_a_lock_instead_of_blocking_the_page(db, monkeypatch):
    """A migration holding a lock on the event table must not hang every page:
    the pre-query refresh stops at the page's statement timeout and is skipped."""
    import threading

    from dashboard import rollups as r

    monkeypatch.setenv("DASHBOARD_STATEMENT_TIMEOUT_MS", "300")
    locker = db.connect()
    try:
        locker.exec_driver_sql("LOCK TABLE plaid_api_events_table IN ACCESS EXCLUSIVE MODE")
        outcome: list[bool] = []
        worker = threading.Thread(target=lambda: outcome.append(r.maybe_refresh(db, interval_s=0)))
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive(), "the refresh waited for the lock instead of timing out"
        assert outcome == [False]
    finally:
        locker.rollback()
        locker.close()
    assert r.maybe_refresh(db, interval_s=0) is True  # once the lock is gone it runs
