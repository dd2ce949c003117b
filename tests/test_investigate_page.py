"""The investigate page through AppTest: deep links, bad input, and request_id → ticket on seeded data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from tests import investigate_data as d

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "investigate.py")


def open_page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def everything(at: AppTest) -> str:
    """All text the page put on screen, including tables and dataframes."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.code] + [e.value for e in at.error]
    parts += [e.value for e in at.caption] + [e.value for e in at.info] + [e.value for e in at.warning]
    parts += [e.value for e in at.success] + [e.value.to_csv() for e in at.dataframe]
    parts += [e.value.to_csv() for e in at.table]
    return "\n".join(str(p) for p in parts)


@pytest.fixture()
def small_url(db_url, db, app_env):
    d.build(db)
    app_env(db_url)
    return db_url


def test_request_id_deep_link_shows_event_and_ticket_packet(small_url):
    at = open_page(q=d.REQ_LOGIN_1)
    assert not at.exception
    packet = at.code[-1].value
    assert re.search(rf"^request_id +: {d.REQ_LOGIN_1}$", packet, re.MULTILINE)
    assert d.ITEM_1 in packet and "ins_109508" in packet and "ITEM_LOGIN_REQUIRED" in packet
    assert "Link update mode" in at.warning[0].value
    assert [b.label for b in at.get("download_button")] == ["Download JSON", "Download Markdown"]
    shown = everything(at)
    for token in d.TOKENS:
        assert token not in shown
    assert '"access_token": "[REDACTED]"' in shown


def test_event_deep_link(small_url):
    at = open_page(event="link-1")
    assert not at.exception
    assert "Event link-1" in [s.value for s in at.subheader]
    assert d.SESSION_1 in at.code[-1].value  # the packet carries the link_session_id


def test_item_deep_link_shows_timeline_and_item_packet(small_url):
    at = open_page(q=d.ITEM_1, window="24h")
    assert not at.exception
    df = at.dataframe[0].value
    assert list(df["method"]) == ["transactionsSync", "transactionsSync", "Link exit", "accountsGet", "Link success"]
    assert d.REQ_LOGIN_1 in at.code[-1].value  # packet from the item's latest error


def test_filter_links_from_other_pages_list_matching_events(small_url):
    at = open_page(code="ITEM_LOGIN_REQUIRED", window="24h")
    assert not at.exception
    assert list(at.dataframe[0].value["request_id"]) == [d.REQ_LOGIN_1, d.REQ_LOGIN_2]
    assert "Filters: code = ITEM_LOGIN_REQUIRED." in at.caption[0].value


def test_triage_link_from_the_trends_page(small_url):
    at = open_page(triage="Plaid-side (ticket)", window="24h")
    assert not at.exception
    assert list(at.dataframe[0].value["request_id"]) == [d.REQ_PLAID]
    bad = open_page(triage="nonsense", window="24h")
    assert "not a triage class" in bad.error[0].value


def test_ambiguous_identifier_offers_links_to_pick(small_url):
    at = open_page(q="2")
    assert not at.exception
    links = [m.value for m in at.markdown if "/investigate?q=2&kind=" in m.value]
    assert len(links) == 3
    picked = open_page(q="2", kind="item id", window="24h")
    # item 2's API call and its user's Link exit
    assert list(picked.dataframe[0].value["method"]) == ["accountsGet", "Link exit"]
    assert picked.dataframe[0].value["request_id"].iloc[0] == d.REQ_PLAID


@pytest.mark.parametrize(
    "params, message",
    [
        ({"q": "1; DROP TABLE items_table"}, "letters, digits"),
        ({"q": "ünïcode"}, "letters, digits"),
        ({"q": "x" * 150}, "150 characters"),
        ({"q": "RqUnknownzzzzz9"}, "Nothing matches"),
        ({"event": "1 OR 1=1"}, "not an event reference"),
        ({"event": "424242"}, "no event"),
    ],
)
def test_bad_input_gets_a_clear_message(small_url, params, message):
    at = open_page(**params)
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_empty_page_prompts(small_url):
    at = open_page()
    assert not at.exception
    assert "Paste one identifier" in at.info[0].value


def test_two_steps_from_a_seeded_request_id_to_a_ticket_packet(seeded, seeded_url, app_env):
    """The done-when: paste a request_id (step 1), the packet is there to copy or download (step 2)."""
    with seeded.connect() as conn:
        rid, item, institution, code = conn.execute(
            text(
                "SELECT e.request_id, i.plaid_item_id, i.plaid_institution_id, e.error_code "
                "FROM plaid_api_events_table e JOIN items_table i ON i.id = e.item_id "
                "WHERE e.error_code = 'UNSUPPORTED_RESPONSE' ORDER BY e.id LIMIT 1"
            )
        ).one()
        token = conn.execute(
            text("SELECT plaid_access_token FROM items_table WHERE plaid_item_id = :i"), {"i": item}
        ).scalar_one()
    app_env(seeded_url)
    at = open_page(q=f"  {rid} ")
    assert not at.exception
    packet = at.code[-1].value
    for value in (rid, item, institution, code, "environment", "sandbox", "Institution / Item issue"):
        assert value in packet
    assert "File a Plaid support ticket" in at.success[0].value
    assert token not in everything(at)


def test_typing_a_new_identifier_starts_at_page_one(small_url):
    at = open_page(q="alice", page="2", window="7d")
    assert not at.exception
    at.text_input(key="q").set_value(d.ITEM_2).run()
    assert not at.exception
    assert at.number_input(key="page").value == 1
    assert list(at.dataframe[0].value["method"]) == ["accountsGet", "Link exit"]


def test_full_export_is_prepared_on_request_and_a_database_failure_is_a_message(small_url, db):
    at = open_page(q=d.ITEM_1, window="30d")
    assert not at.exception
    labels = [b.label for b in at.get("download_button")]
    assert "Download the full export (CSV)" not in labels
    at.button(key="csv_all_prepare").click().run()
    assert not at.exception
    assert "Download the full export (CSV)" in [b.label for b in at.get("download_button")]

    # The export query fails (table renamed under the page): a clear message, no traceback.
    with db.begin() as conn:
        conn.execute(text("ALTER TABLE link_events_table RENAME TO link_events_gone"))
    try:
        at.button(key="csv_all_prepare").click().run()
        assert not at.exception
        assert at.error, "the failure must be shown"
    finally:
        with db.begin() as conn:
            conn.execute(text("ALTER TABLE link_events_gone RENAME TO link_events_table"))
