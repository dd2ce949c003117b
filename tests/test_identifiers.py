"""Identifier validation and classification, against a constructed database."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dashboard.identifiers import IdentifierError, Kind, candidate_kinds, lookup, normalise, not_found_message
from tests import investigate_data as d


@pytest.fixture()
def small(db):
    d.build(db)
    return db


@pytest.mark.parametrize(
    "raw, why",
    [
        ("", "Type an identifier"),
        ("   ", "Type an identifier"),
        (None, "Type an identifier"),
        ("x" * 101, "101 characters"),
        ("1; DROP TABLE users_table", "';'"),
        ("' OR 1=1 --", "\"'\""),
        ("alice' --", "\"'\""),
        ("ünïcode", "'ï'"),
        ("user\u202eid", "'\\u202e'"),
        ("bob\x00", "'\\x00'"),
        ("a b", "' '"),
        ("%", "'%'"),
    ],
)
def test_malformed_input_is_refused_with_a_reason(raw, why):
    with pytest.raises(IdentifierError) as err:
        normalise(raw)
    assert why in str(err.value)


def test_normalise_strips_and_keeps_a_valid_identifier():
    assert normalise("  RqLoginAaaaaaa1 \n") == "RqLoginAaaaaaa1"
    assert normalise("x" * 100) == "x" * 100


@pytest.mark.parametrize(
    "text_, kinds",
    [
        ("42", [Kind.ITEM_ID, Kind.USER_ID, Kind.USERNAME]),
        ("99999999999", [Kind.USERNAME]),  # beyond int4: cannot be a serial id
        ("ins_109508", [Kind.INSTITUTION_ID, Kind.USERNAME]),
        (d.SESSION_1, [Kind.LINK_SESSION_ID, Kind.USERNAME]),
        (d.REQ_LOGIN_1, [Kind.REQUEST_ID, Kind.USERNAME]),
        (d.ITEM_1, [Kind.REQUEST_ID, Kind.PLAID_ITEM_ID, Kind.USERNAME]),
        ("demo-user-000001", [Kind.USERNAME]),
        ("ops@example.com", [Kind.USERNAME]),
    ],
)
def test_shape_decides_which_kinds_are_possible(text_, kinds):
    assert candidate_kinds(text_) == kinds


def test_each_identifier_kind_is_found(small):
    def only(raw):
        found = lookup(small, raw)
        assert len(found) == 1, found
        return found[0]

    m = only(d.REQ_LOGIN_1)
    assert (m.kind, m.event_ref, m.item_id, m.user_id, m.plaid_item_id, m.institution_id) == (
        Kind.REQUEST_ID, "1", 1, 1, d.ITEM_1, "ins_109508")
    m = only(d.REQ_LINK)
    assert (m.kind, m.event_ref, m.user_id, m.link_session_id) == (Kind.REQUEST_ID, "link-1", 1, d.SESSION_1)
    m = only(d.SESSION_3)
    assert (m.kind, m.user_id, m.link_session_id) == (Kind.LINK_SESSION_ID, 2, d.SESSION_3)
    m = only(d.ITEM_2)
    assert (m.kind, m.item_id, m.user_id, m.institution_id) == (Kind.PLAID_ITEM_ID, 2, 2, "ins_109509")
    m = only("alice")
    assert (m.kind, m.user_id) == (Kind.USERNAME, 1)
    m = only("ins_109509")
    assert (m.kind, m.institution_id) == (Kind.INSTITUTION_ID, "ins_109509")
    assert "1 item(s)" in m.label
    m = only("3")  # user 3 exists, item 3 does not
    assert (m.kind, m.user_id) == (Kind.USER_ID, 3)


def test_ambiguous_integer_offers_every_match(small):
    found = lookup(small, "2")
    # item 2, user 2, and user 3 whose username is "2"
    assert [(m.kind, m.item_id, m.user_id) for m in found] == [
        (Kind.ITEM_ID, 2, 2),
        (Kind.USER_ID, None, 2),
        (Kind.USERNAME, None, 3),
    ]
    assert len({m.choice_key for m in found}) == 3


def test_unknown_identifier_finds_nothing_and_says_where_it_looked(small):
    assert lookup(small, "RqUnknownzzzzz9") == []
    msg = not_found_message("RqUnknownzzzzz9")
    assert "request_id" in msg and "username" in msg
    assert lookup(small, "ins_999") == []
    assert lookup(small, "77") == []


def test_sql_like_input_never_reaches_the_database(small):
    with pytest.raises(IdentifierError):
        lookup(small, "1; DELETE FROM users_table")
    with small.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users_table")).scalar_one() == 3
