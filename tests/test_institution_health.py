"""Institution health and names, stale items: exact figures on a small constructed dataset."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.institution_health import institution_health
from dashboard.institution_names import resolve_names, store_name
from dashboard.item_health import stale_items
from dashboard.timewindow import resolve_window
from tests.health_data import T0, add_event, add_item, add_user, h

WINDOW = resolve_window("custom", h(-4), T0)  # previous window: T0-8h..T0-4h


def _many(conn, item, user, at, n, code=None, etype=None):
    for _ in range(n):
        add_event(conn, item, user, at, code, etype)


def _build(conn):
    u = add_user(conn, "u1")
    a1 = add_item(conn, u, "itemA1", "ins_A", "bad")
    add_item(conn, u, "itemA2", "ins_A", "good")
    b = add_item(conn, u, "itemB", "ins_B")
    c = add_item(conn, u, "itemC", "ins_C")
    add_item(conn, u, "itemD", "ins_D")
    # ins_A: an outage in the window, clean before.
    _many(conn, a1, u, h(-2), 5)
    _many(conn, a1, u, h(-2), 20, "INSTITUTION_DOWN", "INSTITUTION_ERROR")
    _many(conn, a1, u, h(-2), 5, "INTERNAL_SERVER_ERROR", "API_ERROR")
    _many(conn, a1, u, h(-6), 10)
    _many(conn, a1, u, h(-72), 2, "INSTITUTION_DOWN", "INSTITUTION_ERROR")  # baseline
    # ins_B: 10% errors now and before.
    _many(conn, b, u, h(-1), 9)
    _many(conn, b, u, h(-1), 1, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")
    _many(conn, b, u, h(-5), 9)
    _many(conn, b, u, h(-5), 1, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")
    # ins_C: new traffic, 10% errors.
    _many(conn, c, u, h(-3), 18)
    _many(conn, c, u, h(-3), 2, "PRODUCT_NOT_READY", "ITEM_ERROR")
    # Token-less calls carry no institution and are left out.
    _many(conn, None, None, h(-2), 7, "INTERNAL_SERVER_ERROR", "API_ERROR")
    # After the window: ignored.
    _many(conn, b, u, h(1), 50, "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")


def test_institution_health_exact(db):
    with db.begin() as conn:
        _build(conn)
    res = institution_health(db, WINDOW)
    f = res.institutions
    assert list(f["plaid_institution_id"]) == ["ins_A", "ins_C", "ins_B", "ins_D"]
    assert res.median_error_rate == pytest.approx(0.1)
    a = f.iloc[0]
    assert (a["items"], a["bad_items"], a["share_bad"], a["calls"], a["errors"]) == (2, 1, 0.5, 30, 25)
    assert a["success_rate"] == pytest.approx(5 / 30) and a["prev_success_rate"] == 1.0
    assert a["change_pts"] == pytest.approx(-83.33) and a["trend_label"] == "worse by 83.3 pts"
    assert a["top_errors"] == "INSTITUTION_DOWN (20), INTERNAL_SERVER_ERROR (5)"
    assert a["flagged"] and "spike: 525.0×" in a["flag_reason"] and "peers" in a["flag_reason"]
    # Hourly buckets for a 4-hour window; all of ins_A's calls fell at T0-2h.
    assert a["trend"] == [0.0, 0.0, 83.3, 0.0]
    b = f.iloc[2]
    assert (b["calls"], b["errors"], b["trend_label"], b["flagged"]) == (10, 1, "steady", False)
    assert b["success_rate"] == pytest.approx(0.9) and b["top_errors"] == "ITEM_LOGIN_REQUIRED (1)"
    c = f.iloc[1]
    assert c["trend_label"] == "new traffic" and pd.isna(c["prev_success_rate"]) and not c["flagged"]
    d = f.iloc[3]
    assert (d["calls"], d["trend_label"]) == (0, "no calls") and pd.isna(d["success_rate"])
    assert list(f["name"]) == ["ins_A", "ins_C", "ins_B", "ins_D"]  # no names known: the id
    limited = institution_health(db, WINDOW, row_limit=2)
    assert limited.truncated and list(limited.institutions["plaid_institution_id"]) == ["ins_A", "ins_C"]


def test_peer_rule_without_a_baseline_spike(db):
    """An institution failing all week is no spike against its own baseline, but stands out from its peers."""
    with db.begin() as conn:
        u = add_user(conn, "u")
        bad = add_item(conn, u, "itemBad", "ins_bad")
        for day in range(1, 8):
            _many(conn, bad, u, h(-24 * day), 70, "INSTITUTION_NOT_RESPONDING", "INSTITUTION_ERROR")
        _many(conn, bad, u, h(-1), 30, "INSTITUTION_NOT_RESPONDING", "INSTITUTION_ERROR")
        _many(conn, bad, u, h(-1), 10)
        for n in range(3):
            ok = add_item(conn, u, f"itemOk{n}", f"ins_ok{n}")
            _many(conn, ok, u, h(-1), 19)
            _many(conn, ok, u, h(-1), 1, "PRODUCT_NOT_READY", "ITEM_ERROR")
    f = institution_health(db, WINDOW).institutions
    top = f.iloc[0]
    assert top["plaid_institution_id"] == "ins_bad" and top["flagged"]
    # 7.5 errors/h against 490/168 h = 2.9/h: 2.6×, under the spike factor.
    assert top["flag_reason"] == "peers: error rate 75.0% is 15.0× the median institution's 5.0%"
    assert not f["flagged"].iloc[1:].any()


def test_empty_database(db):
    res = institution_health(db, WINDOW)
    assert res.institutions.empty and res.median_error_rate is None
    assert stale_items(db, 7, now=T0).items.empty


def test_names_cache_fetch_and_fallbacks(db):
    store_name(db, "ins_A", "Alpha Bank")
    asked = []

    def fetch(i):
        asked.append(i)
        if i == "ins_C":
            raise RuntimeError("plaid down")
        return {"ins_B": "Beta Bank"}.get(i)

    names = resolve_names(db, ["ins_A", "ins_B", "ins_C", "ins_D", "ins_B"], fetch)
    assert names == {"ins_A": "Alpha Bank", "ins_B": "Beta Bank", "ins_C": "ins_C", "ins_D": "ins_D"}
    assert asked == ["ins_B", "ins_C", "ins_D"]  # the fresh cache entry is not fetched again
    assert resolve_names(db, ["ins_B", "ins_109508"]) == {"ins_B": "Beta Bank", "ins_109508": "ins_109508"}
    assert resolve_names(db, ["ins_109508"], demo=True) == {"ins_109508": "First Platypus Bank"}
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM dashboard_institutions")).scalar_one() == 2
        # A stale cache entry is refreshed when Plaid is available.
        conn.execute(text("UPDATE dashboard_institutions SET fetched_at = now() - interval '40 days' "
                          "WHERE plaid_institution_id = 'ins_A'"))
        conn.commit()
    assert resolve_names(db, ["ins_A"], lambda i: "Alpha Bank N.A.") == {"ins_A": "Alpha Bank N.A."}
    assert resolve_names(db, ["ins_A"]) == {"ins_A": "Alpha Bank N.A."}
    assert resolve_names(db, []) == {}


def test_stale_items(db):
    with db.begin() as conn:
        u = add_user(conn, "stale-user")
        fresh = add_item(conn, u, "itemFresh", "ins_1")
        failing = add_item(conn, u, "itemFailing", "ins_1", "bad")
        silent = add_item(conn, u, "itemSilent", "ins_2")
        old_ok = add_item(conn, u, "itemOldOk", "ins_2")
        add_event(conn, fresh, u, h(-24))
        add_event(conn, fresh, u, h(-2), "INSTITUTION_DOWN", "INSTITUTION_ERROR")
        add_event(conn, failing, u, h(-50), "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")
        add_event(conn, failing, u, h(-30), "ITEM_LOGIN_REQUIRED", "ITEM_ERROR")
        add_event(conn, old_ok, u, h(-24 * 10))
        add_event(conn, old_ok, u, h(-24 * 2), "INSTITUTION_DOWN", "INSTITUTION_ERROR")
        add_event(conn, silent, u, T0 + timedelta(hours=1))  # after "now": not counted
    res = stale_items(db, 7, now=T0)
    assert list(res.items["plaid_item_id"]) == ["itemFailing", "itemOldOk", "itemSilent"]
    assert list(res.items["errors"]) == [2, 1, 0] and list(res.items["calls"]) == [2, 1, 0]
    assert list(res.items["institution"]) == ["ins_1", "ins_2", "ins_2"]
    assert res.items["last_error_code"][0] == "ITEM_LOGIN_REQUIRED" and res.total == 3 and not res.truncated
    assert list(stale_items(db, 14, now=T0).items["plaid_item_id"]) == ["itemFailing", "itemSilent"]
    one = stale_items(db, 7, now=T0, row_limit=1)
    assert one.total == 3 and one.truncated and len(one.items) == 1
    with pytest.raises(ValueError, match="between 1 and"):
        stale_items(db, 0, now=T0)
