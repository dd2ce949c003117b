"""The page queries (trends, Link, institution health) give the same figures from the
rollups as from the raw tables.

Two databases get the same rows. One is refreshed into the rollups, the other
never is, so every query there reads raw rows only. Their reports must be
equal at every stage: rolled up, with new and late rows not refreshed yet,
refreshed again. A few figures are also checked against plain SQL over the
raw table, so the comparison is not only the code against itself.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard import institution_health, rollups, trends
from dashboard.database import make_engine
from dashboard.link_analytics import link_report
from dashboard.rollups import refresh_rollups
from dashboard.timewindow import TimeWindow
from dashboard.trends import ApiFilters, api_filter_options, api_report

UTC = timezone.utc
T0 = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)  # data spans 2026-03-06 .. 03-09 (crosses the US DST change)
METHODS = ("transactionsSync", "accountsGet", "itemGet", "linkTokenCreate", "itemRemove")
CODES = (None, None, None, None, "ITEM_LOGIN_REQUIRED", "INSTITUTION_DOWN", "RATE_LIMIT", "SOME_NEW_CODE")
TYPES = {"ITEM_LOGIN_REQUIRED": "ITEM_ERROR", "INSTITUTION_DOWN": "INSTITUTION_ERROR",
         "RATE_LIMIT": "RATE_LIMIT_EXCEEDED", "SOME_NEW_CODE": None}


def _items(conn) -> None:
    for i, ins in enumerate(("ins_1", "ins_1", "ins_2", "ins_3", "ins_3", "ins_3"), start=1):
        conn.execute(text("INSERT INTO users_table (id, username) VALUES (:i, 'u' || :i)"), {"i": i})
        conn.execute(text(
            "INSERT INTO items_table (id, user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status) "
            "VALUES (:i, :i, 'access-' || :i, 'item-' || :i, :ins, 'good')"), {"i": i, "ins": ins})


def _api_rows(rng: random.Random, n: int, lo: timedelta, hi: timedelta) -> list[dict]:
    rows = []
    for _ in range(n):
        method = rng.choice(METHODS)
        # No item for calls without a token; item 7 does not exist (deleted since).
        item = None if method in ("linkTokenCreate", "itemRemove") or rng.random() < 0.05 else rng.randint(1, 7)
        code = rng.choice(CODES)
        at = T0 + lo + (hi - lo) * rng.random()
        rows.append({"item": item, "m": method, "c": code, "t": TYPES.get(code) if code else None, "at": at})
    return rows


def _link_rows(rng: random.Random, n: int, lo: timedelta, hi: timedelta) -> list[dict]:
    rows = []
    for k in range(n):
        kind = rng.random()
        session = None if kind < 0.1 else f"s{rng.randint(1, n // 2)}"  # some sessions get several rows
        code = rng.choice((None, None, "INVALID_CREDENTIALS", "INSTITUTION_DOWN"))
        rows.append({"ty": "success" if kind > 0.7 else "exit", "s": session, "c": code,
                     "et": "ITEM_ERROR" if code == "INVALID_CREDENTIALS" else ("INSTITUTION_ERROR" if code else None),
                     "st": rng.choice((None, "requires_credentials", "requires_code")),
                     "at": T0 + lo + (hi - lo) * rng.random(), "k": k})
    return rows


def _insert(engines, api: list[dict], link: list[dict]) -> None:
    for engine in engines:
        with engine.begin() as conn:
            if api:
                conn.execute(text(
                    "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, error_type, error_code, "
                    "created_at) VALUES (:item, :item, :m, :t, :c, :at)"), api)
            if link:
                conn.execute(text(
                    "INSERT INTO link_events_table (type, user_id, link_session_id, error_type, error_code, status, "
                    "created_at) VALUES (:ty, 1, :s, :et, :c, :st, :at)"), link)


def _same(a, b, path: str = "") -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False,
                                      obj=path)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{n}]")
    else:
        assert a == b, path


WINDOWS = {
    "two days off the hour": TimeWindow(T0 + timedelta(hours=9, minutes=17),
                                        T0 + timedelta(days=2, hours=9, minutes=17)),
    "one hour (5-minute buckets)": TimeWindow(T0 + timedelta(days=1, hours=3, minutes=5),
                                              T0 + timedelta(days=1, hours=4, minutes=5)),
    "whole days": TimeWindow(T0 + timedelta(days=1), T0 + timedelta(days=3)),
    "on the hour, not midnight": TimeWindow(T0 + timedelta(days=1, hours=12), T0 + timedelta(days=2, hours=12)),
    "30 days (daily buckets from an off-hour start)": TimeWindow(T0 - timedelta(days=27, hours=2, minutes=13),
                                                                 T0 + timedelta(days=2, hours=21, minutes=47)),
    "7 days (6-hour buckets)": TimeWindow(T0 - timedelta(days=4, minutes=31), T0 + timedelta(days=2, hours=23,
                                                                                             minutes=29)),
    "35 hours (two splits in institution health)": TimeWindow(T0 + timedelta(hours=14, minutes=40),
                                                              T0 + timedelta(days=2, hours=1, minutes=40)),
}
FILTERS = [ApiFilters(), ApiFilters(method="transactionsSync"), ApiFilters(institution=trends.UNKNOWN_INSTITUTION),
           ApiFilters(triage_class="user action"), ApiFilters(error_code="INSTITUTION_DOWN", institution="ins_3")]


@pytest.fixture()
def pair(new_database, monkeypatch):
    """(rolled-up engine, raw-only engine) over two databases with the same rows."""
    # Refreshes happen only where the test says so (link_analytics refreshes through trends.with_rollups).
    monkeypatch.setattr(trends, "maybe_refresh", lambda engine: False)
    monkeypatch.setattr(institution_health, "maybe_refresh", lambda engine: False)
    monkeypatch.setattr(rollups, "_known_marks", {})
    rolled, raw = make_engine(new_database()), make_engine(new_database())
    for engine in (rolled, raw):
        with engine.begin() as conn:
            _items(conn)
    yield rolled, raw
    rolled.dispose()
    raw.dispose()


def _reports(engine) -> dict:
    out = {}
    for name, window in WINDOWS.items():
        for n, f in enumerate(FILTERS):
            out[f"{name} api {n}"] = api_report(engine, window, f, stack_by="class" if n % 2 else "type")
        out[f"{name} link"] = link_report(engine, window)
        out[f"{name} options"] = api_filter_options(engine, window)
        out[f"{name} institutions"] = institution_health.institution_health(engine, window)
    return out


def _assert_all_equal(rolled, raw) -> None:
    a, b = _reports(rolled), _reports(raw)
    for key in a:
        _same(a[key], b[key], key)


def test_page_figures_from_rollups_equal_figures_from_raw_rows(pair):
    rolled, raw = pair
    rng = random.Random(7)
    _insert(pair, _api_rows(rng, 1500, timedelta(0), timedelta(days=3)), _link_rows(rng, 300, timedelta(0),
                                                                                     timedelta(days=3)))
    refresh_rollups(rolled)
    with rolled.connect() as conn:
        assert conn.execute(text("SELECT sum(calls) FROM dashboard_api_hourly")).scalar_one() == 1500
    _assert_all_equal(rolled, raw)

    # New rows and late rows (old created_at, new ids), not refreshed yet: read from the tail.
    _insert(pair, _api_rows(rng, 200, timedelta(hours=5), timedelta(days=3)),
            _link_rows(rng, 60, timedelta(hours=5), timedelta(days=3)))
    _assert_all_equal(rolled, raw)
    refresh_rollups(rolled)
    _assert_all_equal(rolled, raw)


def test_rolled_up_headline_and_breakdown_match_plain_sql(pair):
    rolled, _ = pair
    rng = random.Random(11)
    _insert(pair, _api_rows(rng, 800, timedelta(0), timedelta(days=3)), [])
    refresh_rollups(rolled)
    window = WINDOWS["two days off the hour"]
    report = api_report(rolled, window, ApiFilters())
    with rolled.connect() as conn:
        calls, errors, items = conn.execute(text(
            "SELECT count(*), count(error_code), count(DISTINCT item_id) FILTER (WHERE error_code IS NOT NULL) "
            "FROM plaid_api_events_table WHERE created_at >= :s AND created_at < :e"),
            {"s": window.start, "e": window.end}).one()
        by_ins = dict(conn.execute(text(
            "SELECT COALESCE(i.plaid_institution_id, 'unknown'), count(DISTINCT e.item_id) "
            "FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id "
            "WHERE e.created_at >= :s AND e.created_at < :e AND e.error_code IS NOT NULL GROUP BY 1"),
            {"s": window.start, "e": window.end}).all())
    assert (report.headline.calls, report.headline.errors, report.headline.items_affected) == (calls, errors, items)
    got = dict(zip(report.institutions["key"], report.institutions["items_affected"], strict=True))
    assert got == by_ins
    assert by_ins["unknown"] == 1  # item 7 is gone from items_table: its errors count under unknown


def test_ticket_institution_count_from_rollups_matches_plain_sql(pair, monkeypatch):
    from dashboard import ticket
    from dashboard.investigate import event_detail

    monkeypatch.setattr(ticket, "maybe_refresh", lambda engine: False)
    rolled, _ = pair
    rng = random.Random(5)
    _insert(pair, _api_rows(rng, 600, timedelta(0), timedelta(days=3)), [])
    refresh_rollups(rolled)
    _insert(pair, _api_rows(rng, 80, timedelta(hours=2), timedelta(days=3)), [])  # not refreshed: from the tail

    def plain(detail) -> int:
        with rolled.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM plaid_api_events_table e JOIN items_table i ON i.id = e.item_id "
                "WHERE i.plaid_institution_id = :ins AND e.error_code = :code "
                "AND e.created_at >= :t - interval '14 days' AND e.created_at < :t + interval '14 days'"),
                {"ins": detail.context["institution_id"], "code": detail.error_code, "t": detail.created_at},
            ).scalar_one()

    with rolled.connect() as conn:
        ids = conn.execute(text(
            "SELECT e.id FROM plaid_api_events_table e JOIN items_table i ON i.id = e.item_id "
            "WHERE e.error_code IS NOT NULL ORDER BY e.id LIMIT 5")).scalars().all()
    checked = 0
    for event_id in ids:
        detail = event_detail(rolled, str(event_id))
        _, count = ticket._similar(rolled, detail)
        assert count == plain(detail) and count >= 1
        checked += 1
    assert checked == 5
