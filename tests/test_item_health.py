"""Item health: the rule on constructed histories, in Python and in SQL, with exact figures."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from dashboard.health_rule import Health, ItemState, derive, parse_health
from dashboard.institution_names import store_name
from dashboard.item_health import InvalidItemId, item_detail, item_ids_by_health, list_items
from dashboard.timewindow import resolve_window
from tests.health_data import HISTORIES, T0, add_event, add_item, add_link, add_user, build_histories, h

WINDOW = resolve_window("custom", h(-24), T0)


def _python_state(events) -> ItemState:
    """The state derive() needs, computed by hand from a history (as of T0, 7-day history)."""
    seen = sorted(e for e in events if -168 <= e[0] < 0)
    successes = [e[0] for e in seen if e[1] is None]
    last_ok = max(successes) if successes else None
    errors = [e for e in seen if e[1] is not None]
    streak = [e for e in errors if last_ok is None or e[0] > last_ok]
    last = errors[-1] if errors else (None, None, None)
    return ItemState(
        status="good",
        last_success_at=h(last_ok) if last_ok is not None else None,
        last_error_code=last[1],
        last_error_type=last[2],
        last_error_at=h(last[0]) if errors else None,
        consecutive_failures=len(streak),
        failing_since=h(streak[0][0]) if streak else None,
    )


@pytest.mark.parametrize("name,ins,status,events,expected", HISTORIES, ids=[x[0] for x in HISTORIES])
def test_rule_in_python(name, ins, status, events, expected):
    state = _python_state(events)
    state = ItemState(**{**state.__dict__, "status": status})
    verdict = derive(state, T0)
    assert verdict.health.value == expected
    assert verdict.explanation and verdict.next_step


def test_rule_details():
    persistent = ItemState("good", h(-20), "INSTITUTION_DOWN", "INSTITUTION_ERROR", h(-1), 2, h(-10))
    v = derive(persistent, T0)
    assert v.health is Health.PLAID_SIDE and "10 h" in v.explanation and "ticket" in v.next_step
    # The same streak 5 hours old is still transient.
    assert derive(ItemState("good", h(-6), "INSTITUTION_DOWN", "INSTITUTION_ERROR", h(-1), 2, h(-5)),
                  T0).health is Health.TRANSIENT
    # Stored status wins even over a successful last call.
    assert derive(ItemState("bad", h(-1)), T0).health is Health.NEEDS_USER
    assert "update mode" in derive(ItemState("bad"), T0).next_step
    assert parse_health("needs user action") is Health.NEEDS_USER
    assert parse_health("") is None and parse_health("any") is None
    with pytest.raises(ValueError, match="Unknown health"):
        parse_health("sick")


def test_list_items_exact_figures_and_sql_matches_rule(db):
    with db.begin() as conn:
        ids = build_histories(conn)
    result = list_items(db, WINDOW)
    got = {r.plaid_item_id: r for r in result.items.itertuples()}
    assert set(got) == {x[0] for x in HISTORIES}
    for name, *_rest, expected in HISTORIES:
        assert got[name].health == expected, name
    assert result.counts == {
        Health.HEALTHY: 4, Health.NEEDS_USER: 2, Health.OURS: 2, Health.TRANSIENT: 2, Health.PLAID_SIDE: 2,
    }
    assert result.total == 12 and not result.truncated
    assert result.headline()[0] == "2 items broken by our integration"
    assert "2 items need the user to re-link" in result.headline()
    b = got["itemUserB"]
    assert (b.consecutive_failures, b.window_errors, b.window_calls) == (2, 3, 4)
    assert b.last_error_code == "ITEM_LOGIN_REQUIRED" and b.last_error_class == "user action"
    assert b.last_success_at == h(-10) and b.last_error_at == h(-2)
    assert b.item_id == ids["itemUserB"][0] and b.username == "u-itemUserB"
    d = got["itemOursD"]
    assert (d.consecutive_failures, d.window_errors, d.window_calls) == (1, 1, 1)
    assert d.last_success_at == h(-30)  # before the window, inside the 7-day history
    f = got["itemPersistF"]
    assert (f.consecutive_failures, f.window_errors) == (2, 2)
    k = got["itemOldK"]
    # 10 days ago: outside the history
    assert pd.isna(k.last_error_code) and pd.isna(k.last_error_class) and k.consecutive_failures == 0
    fut = got["itemFutureL"]
    assert pd.isna(fut.last_error_code) and fut.window_calls == 1  # after the window's end: ignored
    # Worst first: our integration, then Plaid-side, then user action.
    assert list(result.items["health"][:2]) == ["broken by our integration"] * 2
    assert list(result.items["health"][-4:]) == ["healthy"] * 4
    # Never the access token.
    assert not any("access-sandbox" in str(v) for v in result.items.to_numpy().ravel())


def test_list_items_filters_and_limits(db):
    with db.begin() as conn:
        ids = build_histories(conn)
    names = lambda res: sorted(res.items["plaid_item_id"])  # noqa: E731
    assert names(list_items(db, WINDOW, status="bad")) == ["itemBadC"]
    needs = list_items(db, WINDOW, health="needs user action")
    assert names(needs) == ["itemBadC", "itemUserB"]
    assert needs.counts[Health.HEALTHY] == 4  # counts ignore the health filter
    assert names(list_items(db, WINDOW, institution="ins_2")) == ["itemOursD", "itemTransE"]
    assert names(list_items(db, WINDOW, error_code="institution_down")) == ["itemPersistF", "itemTransE"]
    assert names(list_items(db, WINDOW, user="u-itemPlaidG")) == ["itemPlaidG"]
    assert names(list_items(db, WINDOW, user=ids["itemQuietJ"][1])) == ["itemQuietJ"]
    assert list_items(db, WINDOW, institution="ins_404").items.empty
    # Malformed filters say what a value should look like (identifiers.validate_filter).
    for kw, value, says in (("institution", "ins_nope", "Institution ids look like ins_123"),
                            ("error_code", "bad code;", "Error codes look like ITEM_LOGIN_REQUIRED"),
                            ("user", "x' OR 1=1", "User filter: Identifiers contain only")):
        with pytest.raises(ValueError, match=says):
            list_items(db, WINDOW, **{kw: value})
    assert set(list_items(db, WINDOW, institution="ins_2").items["institution"]) == {"ins_2"}  # no name known
    store_name(db, "ins_2", "Two Bank")
    assert set(list_items(db, WINDOW, institution="ins_2").items["institution"]) == {"Two Bank"}
    limited = list_items(db, WINDOW, row_limit=3)
    assert len(limited.items) == 3 and limited.truncated and limited.total == 12
    with pytest.raises(ValueError, match="status"):
        list_items(db, WINDOW, status="ugly")
    assert item_ids_by_health(db, WINDOW, Health.NEEDS_USER, row_limit=10) == sorted(
        [ids["itemUserB"][0], ids["itemBadC"][0]])
    assert item_ids_by_health(db, WINDOW, "Plaid-side", row_limit=1) == [ids["itemPersistF"][0]]


def test_item_detail(db):
    with db.begin() as conn:
        ids = build_histories(conn)
        iid, uid = ids["itemUserB"]
        conn.execute(text(
            "INSERT INTO accounts_table (item_id, plaid_account_id, name, mask, current_balance, available_balance, "
            "iso_currency_code, type, subtype) VALUES "
            "(:i, 'acc1', 'Checking', '0000', 110.5, 100, 'USD', 'depository', 'checking'),"
            "(:i, 'acc2', 'Credit', '3333', 410, NULL, 'USD', 'credit', 'credit card')"), {"i": iid})
        add_link(conn, uid, h(-1), "exit", "INVALID_CREDENTIALS", "requires_credentials", "ls-in")
        add_link(conn, uid, h(-30), "success", session="ls-old")  # before the window
        other = add_user(conn, "someone-else")
        add_link(conn, other, h(-1), "success", session="ls-other")
        add_event(conn, add_item(conn, other, "otherItem", "ins_1"), other, h(-1), "ITEM_LOGIN_REQUIRED",
                  "ITEM_ERROR")
    detail = item_detail(db, "itemUserB", WINDOW)
    assert detail.identity["item_id"] == iid and detail.identity["username"] == "u-itemUserB"
    assert "plaid_access_token" not in detail.identity and detail.identity["institution_name"] == "ins_1"
    assert not any("access-sandbox" in str(v) for v in detail.identity.values())
    assert detail.verdict.health is Health.NEEDS_USER and "update mode" in detail.verdict.next_step
    assert list(detail.accounts["name"]) == ["Checking", "Credit"]
    assert list(detail.accounts["mask"]) == ["0000", "3333"]
    assert float(detail.accounts["current_balance"][0]) == 110.5
    tl = detail.timeline
    assert list(tl["source"]) == ["link", "api", "api", "api", "api"]
    assert list(tl["at"]) == [h(-1), h(-2), h(-3), h(-10), h(-20)]
    assert tl["link_session_id"][0] == "ls-in" and tl["who_acts"][0] == "user action"
    assert pd.isna(tl["who_acts"][3])  # the success at T0-10h
    assert "arguments" not in tl.columns
    assert [(r.failures, r.codes) for r in detail.streaks.itertuples()] == [
        (2, "ITEM_LOGIN_REQUIRED"), (1, "ITEM_LOGIN_REQUIRED")]
    assert detail.streaks["started"][0] == h(-3) and detail.streaks["last_failure"][0] == h(-2)
    assert item_detail(db, "noSuchItem", WINDOW) is None
    with pytest.raises(InvalidItemId):
        item_detail(db, "x'; DROP TABLE items_table; --", WINDOW)


def test_empty_database(db):
    result = list_items(db, WINDOW)
    assert result.items.empty and result.total == 0 and result.counts == {} and result.headline() == []
    assert item_ids_by_health(db, WINDOW, Health.NEEDS_USER, row_limit=5) == []
