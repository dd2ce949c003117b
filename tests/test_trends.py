"""Plaid API trends: exact figures on small constructed datasets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from dashboard.timewindow import TimeWindow, resolve_window
from dashboard.trends import (
    UNKNOWN_INSTITUTION,
    ApiFilters,
    api_breakdown,
    api_error_rate_series,
    api_headline,
    api_report,
    api_spikes,
)

UTC = timezone.utc
NOFILTER = ApiFilters()


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


def add_items(engine, items: list[tuple[int, str]]) -> None:
    """items: (id, institution); one user per item, ids fixed so events can point at them."""
    with engine.begin() as conn:
        for item_id, ins in items:
            conn.execute(text("INSERT INTO users_table (id, username) VALUES (:i, 'u' || :i)"), {"i": item_id})
            conn.execute(
                text(
                    "INSERT INTO items_table (id, user_id, plaid_access_token, plaid_item_id, "
                    "plaid_institution_id, status) "
                    "VALUES (:i, :i, 'access-sandbox-' || :i, 'item-' || :i, :ins, 'good')"
                ),
                {"i": item_id, "ins": ins},
            )


def add_events(engine, events: list[tuple]) -> None:
    """events: (item_id, method, error_type, error_code, created_at)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, arguments, request_id, "
                "error_type, error_code, created_at) VALUES (:item, :item, :m, '[]', "
                "CASE WHEN CAST(:c AS text) IS NOT NULL THEN md5(random()::text) END, :t, :c, :at)"
            ),
            [{"item": e[0], "m": e[1], "t": e[2], "c": e[3], "at": e[4]} for e in events],
        )


# A 24 h window that crosses UTC midnight and the US spring-forward change
# (2026-03-08 02:00 EST = 07:00 UTC).
SPRING = TimeWindow(ts("2026-03-07T12:00"), ts("2026-03-08T12:00"))
SPRING_EVENTS = [
    (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-03-07T23:59:59")),
    (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-03-08T00:00:00")),
    (3, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-03-08T06:30")),
    (2, "accountsGet", "INSTITUTION_ERROR", "INSTITUTION_DOWN", ts("2026-03-08T07:30")),
    (None, "itemRemove", "INVALID_INPUT", "ITEM_NOT_FOUND", ts("2026-03-08T07:45")),  # deleted item
    (1, "transactionsSync", None, None, ts("2026-03-08T07:50")),
    (2, "accountsGet", None, None, ts("2026-03-07T13:00")),
    (None, "linkTokenCreate", None, None, ts("2026-03-07T14:00")),
    (99, "accountsGet", "WEIRD_ERROR", "SOME_NEW_CODE", ts("2026-03-08T11:59:59")),  # item 99 deleted since
    (1, "transactionsSync", "ITEM_ERROR", None, ts("2026-03-08T08:00")),  # NULL code: not an error
    # outside the window
    (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-03-08T12:00")),  # end is exclusive
    (2, "accountsGet", "INSTITUTION_ERROR", "INSTITUTION_DOWN", ts("2026-03-07T11:59")),  # previous window
    (1, "transactionsSync", None, None, ts("2026-03-06T12:00")),  # previous window's first instant
]


@pytest.fixture()
def spring(db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_A")])
    add_events(db, SPRING_EVENTS)
    return db


@pytest.fixture()
def new_york(db_url):
    """An engine whose sessions run in America/New_York: buckets must not move."""
    engine = create_engine(db_url, connect_args={"options": "-c timezone=America/New_York"})
    yield engine
    engine.dispose()


def test_headline_exact(spring):
    h = api_headline(spring, SPRING, NOFILTER)
    assert (h.calls, h.errors, h.items_affected) == (10, 6, 4)
    assert (h.prev_calls, h.prev_errors, h.prev_items_affected) == (2, 1, 1)
    assert h.error_rate == pytest.approx(0.6)
    assert h.prev_error_rate == pytest.approx(0.5)


def test_headline_filters(spring):
    h = api_headline(spring, SPRING, ApiFilters(institution="ins_A"))
    assert (h.calls, h.errors, h.items_affected) == (5, 3, 2)
    h = api_headline(spring, SPRING, ApiFilters(institution=UNKNOWN_INSTITUTION))
    assert (h.calls, h.errors, h.items_affected) == (3, 2, 1)
    # Code and class filters choose which errors count; calls stay all calls.
    h = api_headline(spring, SPRING, ApiFilters(error_code="ITEM_LOGIN_REQUIRED"))
    assert (h.calls, h.errors, h.items_affected) == (10, 3, 2)
    h = api_headline(spring, SPRING, ApiFilters(triage_class="unclassified"))
    assert (h.calls, h.errors) == (10, 1)
    h = api_headline(spring, SPRING, ApiFilters(method="accountsGet", triage_class="transient"))
    assert (h.calls, h.errors) == (3, 1)


def test_code_breakdown_exact(spring):
    df = api_breakdown(spring, SPRING, NOFILTER, "error_code")
    rows = {r.key: r for r in df.itertuples()}
    assert list(df["key"]) == ["ITEM_LOGIN_REQUIRED", "INSTITUTION_DOWN", "ITEM_NOT_FOUND", "SOME_NEW_CODE"]
    ilr = rows["ITEM_LOGIN_REQUIRED"]
    assert (ilr.errors, ilr.items_affected, ilr.share) == (3, 2, 0.5)
    assert ilr.first_seen == datetime(2026, 3, 7, 23, 59, 59)
    assert ilr.last_seen == datetime(2026, 3, 8, 6, 30)
    assert len(ilr.trend) == 24 and sum(ilr.trend) == 3
    assert ilr.trend[11] == 1 and ilr.trend[12] == 1 and ilr.trend[18] == 1
    assert rows["ITEM_NOT_FOUND"].items_affected == 0  # the deleted item's event has no item_id
    assert rows["SOME_NEW_CODE"].error_type == "WEIRD_ERROR"


def test_code_triage_in_report(spring):
    report = api_report(spring, SPRING, NOFILTER)
    cls = dict(zip(report.codes["key"], report.codes["triage_class"], strict=True))
    assert cls == {
        "ITEM_LOGIN_REQUIRED": "user action",
        "INSTITUTION_DOWN": "transient",
        "ITEM_NOT_FOUND": "integration bug",
        "SOME_NEW_CODE": "unclassified",
    }
    assert "not in our knowledge base" in report.codes.set_index("key").loc["SOME_NEW_CODE", "next_step"]


def test_institution_and_method_breakdowns(spring):
    ins = api_breakdown(spring, SPRING, NOFILTER, "institution").set_index("key")
    assert ins.loc["ins_A", ["calls", "errors", "items_affected"]].tolist() == [5, 3, 2]
    assert ins.loc["ins_B", ["calls", "errors", "items_affected"]].tolist() == [2, 1, 1]
    assert ins.loc[UNKNOWN_INSTITUTION, ["calls", "errors", "items_affected"]].tolist() == [3, 2, 1]
    assert ins.loc[UNKNOWN_INSTITUTION, "label"] == "unknown institution"
    assert ins["share"].sum() == pytest.approx(1.0)
    m = api_breakdown(spring, SPRING, NOFILTER, "plaid_method").set_index("key")
    assert m.loc["transactionsSync", ["calls", "errors"]].tolist() == [5, 3]
    assert m.loc["accountsGet", ["calls", "errors"]].tolist() == [3, 2]
    assert m.loc["itemRemove", ["calls", "errors"]].tolist() == [1, 1]
    assert m.loc["linkTokenCreate", ["calls", "errors"]].tolist() == [1, 0]
    assert m.loc["accountsGet", "error_rate"] == pytest.approx(2 / 3)


def test_row_limit_keeps_share_of_all_errors(spring):
    df = api_breakdown(spring, SPRING, NOFILTER, "error_code", row_limit=1)
    assert list(df["key"]) == ["ITEM_LOGIN_REQUIRED"] and df["share"].iloc[0] == 0.5


def test_series_buckets_in_utc_across_midnight_and_dst(spring, new_york):
    for engine in (spring, new_york):
        df = api_error_rate_series(engine, SPRING, NOFILTER, "class")
        assert df["bucket"].nunique() == 24
        assert df["bucket"].min() == datetime(2026, 3, 7, 12)
        assert df["bucket"].max() == datetime(2026, 3, 8, 11)
        at7 = df[df["bucket"] == datetime(2026, 3, 8, 7)].set_index("series")
        assert at7["calls"].tolist() == [3, 3]
        assert at7.loc["transient", "errors"] == 1 and at7.loc["integration bug", "errors"] == 1
        assert at7.loc["transient", "error_rate"] == pytest.approx(1 / 3)
        assert df.groupby("bucket")["calls"].first().sum() == 10
        assert df["errors"].sum() == 6
        midnight = df[df["bucket"] == datetime(2026, 3, 8, 0)]
        assert midnight["errors"].tolist() == [1]
    by_type = api_error_rate_series(spring, SPRING, NOFILTER, "type")
    assert set(by_type["series"].dropna()) == {"ITEM_ERROR", "INSTITUTION_ERROR", "INVALID_INPUT", "WEIRD_ERROR"}


def test_daily_buckets_around_autumn_dst(db, new_york):
    # US clocks fall back on 2026-11-01 at 06:00 UTC; daily buckets stay 24 h long.
    add_items(db, [(1, "ins_A")])
    add_events(db, [
        (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-11-01T04:30")),
        (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-11-01T23:30")),
        (1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", ts("2026-11-02T00:30")),
        (1, "transactionsSync", None, None, ts("2026-10-31T23:59:59")),
    ])
    window = TimeWindow(ts("2026-10-25T00:00"), ts("2026-11-08T00:00"))
    for engine in (db, new_york):
        codes = api_breakdown(engine, window, NOFILTER, "error_code")
        trend = codes.set_index("key").loc["ITEM_LOGIN_REQUIRED", "trend"]
        assert len(trend) == 14
        assert trend[7] == 2 and trend[8] == 1 and sum(trend) == 3  # 11-01 and 11-02 (UTC days)
        s = api_error_rate_series(engine, window, NOFILTER)
        calls = s.groupby("bucket")["calls"].first()
        assert calls[datetime(2026, 10, 31)] == 1 and calls[datetime(2026, 11, 1)] == 2


def test_empty_window(spring):
    empty = TimeWindow(ts("2025-01-01T00:00"), ts("2025-01-02T00:00"))
    report = api_report(spring, empty, NOFILTER)
    assert report.empty
    assert (report.headline.calls, report.headline.errors, report.headline.error_rate) == (0, 0, None)
    assert report.codes.empty and report.methods.empty and report.institutions.empty
    assert report.spikes == []
    assert len(report.series) == 24 and report.series["errors"].sum() == 0


def test_empty_database(db):
    report = api_report(db, resolve_window("7d"), NOFILTER)
    assert report.empty and report.flagged == []


def test_spikes_new_ratio_and_peer(db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_C"), (4, "ins_D")])
    window = TimeWindow(ts("2026-05-10T00:00"), ts("2026-05-11T00:00"))
    events = []
    # A code never seen before, 25 times in the window: new (and a spike).
    events += [(1, "transactionsSync", "RATE_LIMIT_EXCEEDED", "TRANSACTIONS_REFRESH_LIMIT",
                window.start + timedelta(minutes=i)) for i in range(25)]
    # A code at 2/h in the window vs 7 in the 168 h before: 48x.
    events += [(2, "accountsGet", "INSTITUTION_ERROR", "INSTITUTION_DOWN",
                window.start + timedelta(minutes=30 * i)) for i in range(48)]
    events += [(2, "accountsGet", "INSTITUTION_ERROR", "INSTITUTION_DOWN",
                window.start - timedelta(days=1 + i)) for i in range(7)]
    # Steady code: 24 in the window, 168 in the baseline -> 1x, not flagged.
    events += [(3, "accountsGet", "ITEM_ERROR", "ITEM_LOCKED", window.start + timedelta(hours=i)) for i in range(24)]
    events += [(3, "accountsGet", "ITEM_ERROR", "ITEM_LOCKED", window.start - timedelta(hours=1 + i))
               for i in range(168)]
    # Healthy traffic for ins_C and ins_D so the median institution error rate is low.
    events += [(3, "transactionsSync", None, None, window.start + timedelta(minutes=3 * i)) for i in range(400)]
    events += [(4, "transactionsSync", None, None, window.start + timedelta(minutes=3 * i)) for i in range(100)]
    add_events(db, events)
    spikes = {(s.kind, s.key): s for s in api_spikes(db, window, NOFILTER)}
    new = spikes[("error_code", "TRANSACTIONS_REFRESH_LIMIT")]
    assert new.new and new.spike and new.window_errors == 25 and new.baseline_errors == 0
    down = spikes[("error_code", "INSTITUTION_DOWN")]
    assert down.spike and not down.new and down.ratio == pytest.approx(48.0)
    locked = spikes[("error_code", "ITEM_LOCKED")]
    assert not locked.flagged and locked.ratio == pytest.approx(1.0)
    # Institution rates: A 25/25, B 48/48, C 24/424, D 0/100 -> median (B and A high) = (24/424 + 1)/2?
    # percentile_cont over A=1.0, B=1.0, C=0.0566, D=0.0 -> 0.528; A and B are not 3x that.
    a = spikes[("institution", "ins_A")]
    assert a.spike and not a.new and not a.peer  # "new" is a rule for codes only
    c = spikes[("institution", "ins_C")]
    assert not c.flagged
    assert ("institution", "ins_D") not in spikes  # no errors at all


def test_peer_rule_flags_an_outlier_without_baseline_spike(db):
    add_items(db, [(i, f"ins_{i}") for i in range(1, 6)])
    window = TimeWindow(ts("2026-05-10T00:00"), ts("2026-05-11T00:00"))
    events = []
    for item in range(1, 6):
        # every institution: 100 calls, 2 errors in the window, and the same in every day of the baseline
        events += [(item, "transactionsSync", None, None, window.start + timedelta(minutes=10 * i)) for i in range(98)]
        events += [(item, "accountsGet", "ITEM_ERROR", "INVALID_MFA", window.start + timedelta(hours=1 + i))
                   for i in range(2)]
    # ins_5 also fails 30 times; its baseline had as many errors per hour (so no ratio spike).
    events += [(5, "accountsGet", "API_ERROR", "INTERNAL_SERVER_ERROR", window.start + timedelta(minutes=i))
               for i in range(30)]
    events += [(5, "accountsGet", "API_ERROR", "INTERNAL_SERVER_ERROR", window.start - timedelta(minutes=5 * i + 1))
               for i in range(7 * 32)]
    add_events(db, events)
    spikes = {(s.kind, s.key): s for s in api_spikes(db, window, NOFILTER)}
    five = spikes[("institution", "ins_5")]
    assert not five.spike and not five.new and five.peer
    assert five.window_errors == 32 and five.window_calls == 130
    assert "median institution 2.0%" in five.reason
    assert not spikes[("institution", "ins_1")].flagged


def test_bad_arguments_are_refused(db):
    with pytest.raises(ValueError):
        api_breakdown(db, SPRING, NOFILTER, "user_id; DROP TABLE x")
    with pytest.raises(ValueError):
        api_error_rate_series(db, SPRING, NOFILTER, "arguments")


def test_no_history_before_the_window_means_no_baseline_flags(db):
    # A fresh install: all data is inside the window, so nothing can be "new" or a "spike".
    add_items(db, [(1, "ins_A")])
    window = TimeWindow(ts("2026-05-10T00:00"), ts("2026-05-11T00:00"))
    add_events(db, [(1, "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", window.start + timedelta(minutes=i))
                    for i in range(30)])
    spikes = api_spikes(db, window, NOFILTER)
    assert [s.key for s in spikes] == ["ITEM_LOGIN_REQUIRED", "ins_A"]
    assert not any(s.flagged for s in spikes)
    assert all(s.reason.startswith("no baseline") for s in spikes)


def test_partial_baseline_uses_only_covered_hours(db):
    # Data starts 48 h before the window: 48 baseline errors over 48 h is 1/h, not 48/168 per hour.
    add_items(db, [(1, "ins_A")])
    window = TimeWindow(ts("2026-05-10T00:00"), ts("2026-05-11T00:00"))
    events = [(1, "accountsGet", "ITEM_ERROR", "ITEM_LOCKED", window.start - timedelta(hours=48 - i))
              for i in range(48)]
    events += [(1, "accountsGet", "ITEM_ERROR", "ITEM_LOCKED", window.start + timedelta(hours=i)) for i in range(24)]
    add_events(db, events)
    code = next(s for s in api_spikes(db, window, NOFILTER) if s.kind == "error_code")
    assert code.ratio == pytest.approx(1.0) and not code.flagged


def test_links_carry_window_and_filters():
    from dashboard.trends import investigate_link, span, window_url_params

    assert window_url_params(resolve_window("7d")) == {"window": "7d"}
    assert window_url_params(SPRING) == {"window": "custom", "window_start": "2026-03-07T12:00",
                                         "window_end": "2026-03-08T12:00"}
    url = investigate_link(SPRING, ApiFilters(method="accountsGet", triage_class="user action"),
                           code="ITEM_LOGIN_REQUIRED")
    assert url == ("/investigate?window=custom&window_start=2026-03-07T12%3A00&window_end=2026-03-08T12%3A00"
                   "&source=api&method=accountsGet&code=ITEM_LOGIN_REQUIRED&triage=user+action")
    # a window ending mid-minute keeps its seconds, or the linked window would lose the last events
    odd = resolve_window("custom", "2026-03-07T12:00:00", "2026-03-08T12:00:30.5")
    assert window_url_params(odd)["window_end"] == "2026-03-08T12:00:30.500000"
    assert resolve_window("custom", *[window_url_params(odd)[k] for k in ("window_start", "window_end")]) == odd
    assert [span(timedelta(hours=24)), span(timedelta(days=7)), span(timedelta(minutes=5))] == [
        "24 h", "7 days", "5 min"]
