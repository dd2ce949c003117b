"""Link analytics: exact figures on a small constructed dataset."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.link_analytics import NO_STATUS, link_headline, link_report
from dashboard.timewindow import TimeWindow

UTC = timezone.utc


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


# 24 h crossing UTC midnight and the US autumn DST change (2026-11-01 06:00 UTC).
WINDOW = TimeWindow(ts("2026-10-31T12:00"), ts("2026-11-01T12:00"))
EVENTS = [
    # (type, session, error_type, error_code, status, created_at)
    ("exit", "s1", "ITEM_ERROR", "INVALID_CREDENTIALS", "requires_credentials", ts("2026-10-31T23:59:59")),
    ("success", "s1", None, None, None, ts("2026-11-01T00:00:01")),  # same session converts after midnight
    ("success", "s2", None, None, None, ts("2026-11-01T05:30")),
    ("exit", "s3", None, None, "requires_credentials", ts("2026-11-01T06:30")),  # left without trying
    ("exit", "s4", "INSTITUTION_ERROR", "INSTITUTION_DOWN", None, ts("2026-11-01T06:40")),
    ("exit", None, "WEIRD", "ODD_CODE", "institution_not_found", ts("2026-11-01T11:00")),  # no session id
    ("exit", None, None, None, None, ts("2026-11-01T11:30")),
    # outside the window
    ("success", "s5", None, None, None, ts("2026-11-01T12:00")),
    ("exit", "s6", None, None, "requires_oauth", ts("2026-10-31T11:00")),  # previous window
    ("success", "s7", None, None, None, ts("2026-10-30T12:00")),  # previous window
]


@pytest.fixture()
def link_db(db):
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type, "
                 "error_code, status, created_at) VALUES (:t, 1, :s, CASE WHEN CAST(:c AS text) IS NOT NULL "
                 "THEN md5(random()::text) END, :et, :c, :st, :at)"),
            [dict(zip(("t", "s", "et", "c", "st", "at"), e, strict=True)) for e in EVENTS],
        )
    return db


def test_link_headline_exact(link_db):
    h = link_headline(link_db, WINDOW)
    # sessions s1..s4 plus two rows without a session id
    assert (h.sessions, h.successes, h.exits_with_error, h.exits_without_error) == (6, 2, 3, 2)
    assert h.conversion == pytest.approx(2 / 6)
    assert (h.prev_sessions, h.prev_successes, h.prev_exits_with_error, h.prev_exits_without_error) == (2, 1, 0, 1)


def test_link_report_breakdowns_and_series(link_db):
    r = link_report(link_db, WINDOW)
    st = r.statuses.set_index("key")
    assert st.loc["requires_credentials", ["exits", "with_error"]].tolist() == [2, 1]
    assert st.loc[NO_STATUS, ["exits", "with_error"]].tolist() == [2, 1]
    assert st.loc["institution_not_found", "exits"] == 1
    assert st["share"].sum() == pytest.approx(1.0)
    assert "MFA" not in st.loc["requires_credentials", "hint"] and st.loc[NO_STATUS, "hint"]
    codes = r.codes.set_index("key")
    assert codes["exits"].to_dict() == {"INVALID_CREDENTIALS": 1, "INSTITUTION_DOWN": 1, "ODD_CODE": 1}
    assert codes.loc["INVALID_CREDENTIALS", "triage_class"] == "user action"
    assert codes.loc["ODD_CODE", "triage_class"] == "unclassified"
    assert codes.loc["INVALID_CREDENTIALS", "first_seen"] == datetime(2026, 10, 31, 23, 59, 59)
    trend = codes.loc["INSTITUTION_DOWN", "trend"]
    assert len(trend) == 24 and trend[18] == 1 and sum(trend) == 1  # 06:00 UTC bucket
    s = r.series.set_index("bucket")
    assert len(s) == 24
    assert s.loc[datetime(2026, 10, 31, 23), "sessions"] == 1
    assert s.loc[datetime(2026, 11, 1, 0), "successes"] == 1
    six = s.loc[datetime(2026, 11, 1, 6)]
    assert [six.sessions, six.exits_with_error, six.exits_without_error] == [2, 1, 1]
    assert s.loc[datetime(2026, 11, 1, 5), "conversion"] == 1.0
    assert pd.isna(s.loc[datetime(2026, 11, 1, 3), "conversion"])  # no sessions, no rate


def test_link_empty_window(link_db):
    r = link_report(link_db, TimeWindow(ts("2020-01-01T00:00"), ts("2020-01-01T01:00")))
    assert r.empty and r.headline.conversion is None
    assert r.statuses.empty and r.codes.empty
    assert len(r.series) == 12 and r.series["sessions"].sum() == 0
