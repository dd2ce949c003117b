"""Timeline, event detail and ticket packets on a constructed dataset (exact figures)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from dashboard.identifiers import lookup
from dashboard.investigate import (
    Filters,
    InvestigateError,
    Request,
    Scope,
    event_detail,
    parse_event_ref,
    run,
    scope_for,
    timeline,
    timeline_csv,
)
from dashboard.ticket import packet_for_event, packet_for_item
from dashboard.timewindow import resolve_window
from tests import investigate_data as d

DAY = resolve_window("24h", now=d.NOW + timedelta(minutes=1))
WEEK = resolve_window("7d", now=d.NOW + timedelta(minutes=1))


@pytest.fixture()
def small(db):
    d.build(db)
    return db


def _no_token(text: str) -> None:
    for token in d.TOKENS:
        assert token not in text
        assert token.split("-", 2)[2] not in text  # not even the token's body


def test_item_timeline_merges_item_api_events_and_users_link_events(small):
    (match,) = lookup(small, d.ITEM_1)
    page = timeline(small, scope_for(match), DAY)
    rows = page.rows
    assert list(rows["source"]) == ["Plaid API", "Plaid API", "Link", "Plaid API", "Link"]
    assert list(rows["method"]) == ["transactionsSync", "transactionsSync", "Link exit", "accountsGet", "Link success"]
    assert list(rows["request_id"].fillna("")) == [d.REQ_LOGIN_1, "", d.REQ_LINK, d.REQ_LOGIN_2, ""]
    assert list(rows["triage"]) == ["user action", "success", "user action", "user action", "success"]
    assert list(rows["event"]) == [
        "/investigate?event=1", "/investigate?event=2", "/investigate?event=link-1",
        "/investigate?event=3", "/investigate?event=link-2",
    ]
    assert rows["time (UTC)"].iloc[0] == d.at(2).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not page.has_next
    # the 7-day window also reaches the INSTITUTION_DOWN call 30 hours ago
    assert len(timeline(small, scope_for(match), WEEK).rows) == 6


def test_timeline_pages_in_sql(small):
    scope = Scope(user_id=1, item_id=1)
    p1 = timeline(small, scope, WEEK, page=1, page_size=4)
    p2 = timeline(small, scope, WEEK, page=2, page_size=4)
    assert (len(p1.rows), p1.has_next, len(p2.rows), p2.has_next) == (4, True, 2, False)
    assert set(p1.rows["event"]).isdisjoint(p2.rows["event"])
    with pytest.raises(InvestigateError):
        timeline(small, scope, WEEK, page=0)
    with pytest.raises(InvestigateError, match="narrow the window"):
        timeline(small, scope, WEEK, page=1000)


def test_local_time_uses_the_viewers_zone(small):
    rows = timeline(small, Scope(user_id=2), DAY, tz_name="Asia/Tokyo").rows
    first = d.at(1)
    assert rows["local time"].iloc[0] == (first + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S JST")
    assert timeline(small, Scope(user_id=2), DAY, tz_name="Not/AZone").rows["local time"].iloc[0].endswith("UTC")


def test_filters_from_other_pages_list_matching_events(small):
    code = timeline(small, Scope(), DAY, Filters(code="ITEM_LOGIN_REQUIRED")).rows
    assert list(code["request_id"]) == [d.REQ_LOGIN_1, d.REQ_LOGIN_2]
    link_code = timeline(small, Scope(), DAY, Filters(code="INVALID_CREDENTIALS")).rows
    assert list(link_code["event"]) == ["/investigate?event=link-1"]
    method = timeline(small, Scope(), DAY, Filters(method="accountsGet")).rows
    assert list(method["request_id"]) == [d.REQ_PLAID, d.REQ_LOGIN_2]
    inst = timeline(small, Scope(), WEEK, Filters(institution="ins_109509")).rows
    assert list(inst["request_id"]) == [d.REQ_PLAID]  # Link events have no institution
    with pytest.raises(InvestigateError):
        Filters.parse("ITEM'; --", None, None)


def test_session_and_institution_scopes(small):
    (session,) = lookup(small, d.SESSION_1)
    rows = timeline(small, scope_for(session), DAY).rows
    # that session's Link event, plus user 1's API events (items 1) in the window
    assert list(rows["event"]) == [
        "/investigate?event=1", "/investigate?event=2", "/investigate?event=link-1", "/investigate?event=3",
    ]
    (inst,) = lookup(small, "ins_109508")
    assert len(timeline(small, scope_for(inst), WEEK).rows) == 4


def test_csv_export_has_every_row_and_no_token(small):
    body = timeline_csv(small, Scope(user_id=1, item_id=1), WEEK).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("time (UTC),local time,source,method,error_code")
    assert len(lines) == 7
    _no_token(body)


def test_event_detail_shows_every_column_with_arguments_redacted(small):
    detail = event_detail(small, "1")
    assert list(detail.columns) == ["id", "item_id", "user_id", "plaid_method", "arguments", "request_id",
                                    "error_type", "error_code", "created_at"]
    assert json.loads(detail.arguments) == [{"access_token": "[REDACTED]", "cursor": None, "count": 100}]
    assert detail.environment == "sandbox"
    assert detail.context == {"plaid_item_id": d.ITEM_1, "institution_id": "ins_109508",
                              "item_status": "bad", "username": "alice"}
    _no_token(repr(detail))
    assert detail.created_at.utcoffset() == timedelta(0)
    assert detail.times("Asia/Tokyo") == (
        f"{d.at(2):%Y-%m-%dT%H:%M:%SZ} (UTC) · {d.at(2) + timedelta(hours=9):%Y-%m-%d %H:%M:%S} JST (local)")
    link = event_detail(small, "link-1")
    assert link.columns["link_session_id"] == d.SESSION_1
    assert "credentials screen" in link.context["link_status_hint"]
    assert event_detail(small, "999") is None
    for bad in ("1 OR 1=1", "link-", "-1", "99999999999", ""):
        with pytest.raises(InvestigateError):
            parse_event_ref(bad)


def test_ticket_packet_for_a_user_action_error_says_no_ticket(small):
    packet = packet_for_event(small, event_detail(small, "1"), environment="production")
    assert (packet.item_id, packet.institution_id, packet.request_id, packet.link_session_id) == (
        d.ITEM_1, "ins_109508", d.REQ_LOGIN_1, None)
    assert (packet.error_type, packet.error_code, packet.method) == (
        "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", "transactionsSync")
    assert packet.occurred_at == d.at(2).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert packet.environment == "sandbox"  # from the token's shape, not the configured default
    assert (packet.similar_count, packet.first_seen, packet.last_seen) == (
        2, d.at(5).strftime("%Y-%m-%dT%H:%M:%SZ"), d.at(2).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert packet.institution_similar_count == 2
    assert (packet.triage_class, packet.ticket_advised, packet.suggested_category) == ("user action", False, None)
    assert packet.advice.startswith("Do not file a ticket") and "Link update mode" in packet.advice
    for rendered in (packet.to_text(), packet.to_json(), packet.to_markdown()):
        assert d.REQ_LOGIN_1 in rendered and d.ITEM_1 in rendered
        _no_token(rendered)
    assert json.loads(packet.to_json())["request_id"] == d.REQ_LOGIN_1
    assert "| request_id | RqLoginAaaaaaa1 |" in packet.to_markdown()


def test_ticket_packet_for_a_plaid_side_error_advises_a_ticket(small):
    packet = packet_for_event(small, event_detail(small, "4"), environment="sandbox")
    assert (packet.item_id, packet.institution_id, packet.environment) == (d.ITEM_2, "ins_109509", "production")
    assert (packet.triage_class, packet.ticket_advised, packet.suggested_category) == (
        "Plaid-side (ticket)", True, "Institution / Item issue")
    assert packet.similar_count == 1
    assert packet.advice.startswith("File a Plaid support ticket")


def test_ticket_packet_for_a_link_error_carries_the_session(small):
    packet = packet_for_event(small, event_detail(small, "link-1"), environment="sandbox")
    assert (packet.source, packet.link_session_id, packet.request_id, packet.item_id, packet.method) == (
        "Link", d.SESSION_1, d.REQ_LINK, None, "Link exit")
    assert packet.similar_count == 1 and packet.ticket_advised is False


def test_item_packet_uses_the_latest_error(small):
    packet = packet_for_item(small, 1, WEEK, environment="sandbox")
    assert packet.request_id == d.REQ_LOGIN_1
    assert packet_for_item(small, 1, resolve_window("1h", now=d.NOW), environment="sandbox") is None


def test_run_resolves_a_request_id_straight_to_event_and_packet(small):
    result = run(small, Request(q=d.REQ_PLAID), DAY, environment="sandbox")
    assert result.view == "event"
    assert result.event.ref == "4" and result.packet.request_id == d.REQ_PLAID


@pytest.mark.parametrize(
    "request_, view, text",
    [
        (Request(), "prompt", None),
        (Request(q="2"), "choose", None),
        (Request(q="2", kind="user id"), "timeline", None),
        (Request(q="' OR 1=1"), "message", "letters, digits"),
        (Request(q="RqUnknownzzzzz9"), "message", "Nothing matches"),
        (Request(event="link-99"), "message", "no event"),
        (Request(event="drop table"), "message", "not an event reference"),
        (Request(code="ITEM_LOGIN_REQUIRED"), "timeline", None),
        (Request(q="alice", page=500), "message", "narrow the window"),
        # leftovers from the previous view in the URL do not hide a new identifier
        (Request(q="alice", event="1"), "timeline", None),
        (Request(q=d.ITEM_2, kind="user id"), "timeline", None),
    ],
)
def test_run_turns_every_input_into_a_view(small, request_, view, text):
    result = run(small, request_, DAY, environment="sandbox")
    assert result.view == view
    if text:
        assert text in result.message


def test_times_are_utc_even_when_the_server_zone_is_not(small):
    with small.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{name}" SET timezone = \'America/Los_Angeles\''))
        conn.commit()
    small.dispose()  # new connections pick up the database's zone
    with small.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar_one() == "America/Los_Angeles"
    detail = event_detail(small, "1")
    assert detail.created_at.utcoffset() == timedelta(0)
    assert packet_for_event(small, detail, environment="sandbox").occurred_at == f"{d.at(2):%Y-%m-%dT%H:%M:%SZ}"
    rows = timeline(small, Scope(item_id=1), DAY).rows
    assert rows["time (UTC)"].iloc[0] == f"{d.at(2):%Y-%m-%dT%H:%M:%SZ}"


def test_triage_filter_matches_the_python_classification(small):
    from dashboard.investigate import TRIAGE_VALUES

    with small.begin() as conn:  # codes the knowledge base lacks: classified by their type
        conn.execute(text(
            "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, request_id, error_type,"
            " error_code, created_at) VALUES (1, 1, 'itemGet', 'RqNewRateLimit1', 'RATE_LIMIT_EXCEEDED',"
            " 'SOME_NEW_LIMIT', :t), (1, 1, 'itemGet', 'RqNewOddErr0001', 'ITEM_ERROR', 'SOME_NEW_CODE', :t)"
        ), {"t": d.at(7)})
    everything_ = timeline(small, Scope(), WEEK).rows
    assert len(everything_) == 11
    total = 0
    for value in (*TRIAGE_VALUES, "success"):
        if value == "success":
            rows = everything_[everything_["triage"] == "success"]
        else:
            rows = timeline(small, Scope(), WEEK, Filters(triage=value)).rows
            assert set(rows["triage"]) <= {value}
            assert len(rows) == (everything_["triage"] == value).sum()
        total += len(rows)
    assert total == 11
    plaid_side = timeline(small, Scope(), WEEK, Filters(triage="Plaid-side (ticket)")).rows
    assert list(plaid_side["request_id"]) == [d.REQ_PLAID]
    user_action = timeline(small, Scope(item_id=1, user_id=1), WEEK, Filters(triage="user action")).rows
    assert list(user_action["request_id"]) == [d.REQ_LOGIN_1, d.REQ_LINK, d.REQ_LOGIN_2]
    transient = timeline(small, Scope(), WEEK, Filters(triage="transient")).rows
    assert list(transient["request_id"]) == ["RqNewRateLimit1", d.REQ_DOWN]
    unclassified = timeline(small, Scope(), WEEK, Filters(triage="unclassified")).rows
    assert list(unclassified["request_id"]) == ["RqNewOddErr0001"]
    with pytest.raises(InvestigateError, match="not a triage class"):
        Filters.parse(None, None, None, "users")


def test_an_event_without_a_timestamp_still_gives_detail_and_packet(small):
    with small.begin() as conn:
        conn.execute(text(
            "INSERT INTO plaid_api_events_table (id, item_id, user_id, plaid_method, arguments, request_id,"
            " error_type, error_code, created_at) VALUES (50, 1, 1, 'itemGet', 'not json', 'RqNoTimestamp01',"
            " 'ITEM_ERROR', 'UNSUPPORTED_RESPONSE', NULL)"
        ))
    result = run(small, Request(q="RqNoTimestamp01"), DAY, environment="sandbox")
    assert result.view == "event"
    assert result.event.times("UTC") == "time not recorded"
    assert (result.packet.occurred_at, result.packet.similar_count) == ("", 1)
    assert result.event.arguments == "not json"


def test_intermittent_transient_errors_get_retry_advice_a_persisting_run_a_ticket(db):
    # Persistence is how long the error lasted without a success in between:
    # 4 errors over 106 h with successes between them are intermittent.
    from tests import health_data as hd

    with db.begin() as conn:
        uid = hd.add_user(conn, "persist-user")
        flaky = hd.add_item(conn, uid, "flaky-item-000000000000", "ins_109511")
        stuck = hd.add_item(conn, uid, "stuck-item-000000000000", "ins_109511")
        for k, hours in enumerate((-106, -70, -30, -0.5)):
            hd.add_event(conn, flaky, uid, hd.h(hours), code="INSTITUTION_NOT_RESPONDING", etype="INSTITUTION_ERROR")
            for j in range(14 if k < 3 else 0):
                hd.add_event(conn, flaky, uid, hd.h(hours + 1 + j))  # successes after each error
        hd.add_event(conn, stuck, uid, hd.h(-30))
        for hours in range(-8, 0):  # failing every hour for 7 h, no success since
            hd.add_event(conn, stuck, uid, hd.h(hours), code="INSTITUTION_NOT_RESPONDING", etype="INSTITUTION_ERROR")
        ids = dict(conn.execute(text(
            "SELECT item_id, max(id) FROM plaid_api_events_table WHERE error_code IS NOT NULL GROUP BY item_id")).all())
    flaky_packet = packet_for_event(db, event_detail(db, str(ids[flaky])), environment="sandbox")
    assert flaky_packet.similar_count == 4
    assert flaky_packet.ticket_advised is False
    assert flaky_packet.advice.startswith("Not yet")
    stuck_packet = packet_for_event(db, event_detail(db, str(ids[stuck])), environment="sandbox")
    assert stuck_packet.ticket_advised is True
    assert "persisting for 7 h" in stuck_packet.advice
    # The health rule counts persistence the same way: since the last success.
    from dashboard.item_health import item_ids_by_health

    window = resolve_window("24h", now=hd.T0 + timedelta(minutes=1))
    assert item_ids_by_health(db, window, "Plaid-side", row_limit=10) == [stuck]
    assert item_ids_by_health(db, window, "failing transiently", row_limit=10) == [flaky]
