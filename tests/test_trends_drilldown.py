"""Trends drill-down lands correctly: every "investigate →" link on the trends page
(window, method, code, institution, triage, API vs Link) opens an investigate
timeline listing exactly the events the trends row counted."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 1, 12, 0, 30, tzinfo=timezone.utc)  # window end has seconds: links must keep them
START = T0 - timedelta(hours=24)
WINDOW_URL = {"window": "custom", "window_start": START.replace(tzinfo=None).isoformat(),
              "window_end": T0.replace(tzinfo=None).isoformat()}

# name: (item, method, error_type, error_code, seconds before T0)
API = {
    "a_login": ("A", "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 7200),
    "b_login": ("B", "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 10800),
    "a_get_ok": ("A", "itemGet", None, None, 14400),
    "b_down": ("B", "itemGet", "INSTITUTION_ERROR", "INSTITUTION_DOWN", 18000),
    "orphan": (None, "linkTokenCreate", "INVALID_REQUEST", "INVALID_FIELD", 21600),
    "a_sync_ok": ("A", "transactionsSync", None, None, 3600),
    "a_login_edge": ("A", "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 15),  # in the last minute
    "before": ("A", "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 30 * 3600),
    "after": ("A", "transactionsSync", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", -20),
}
# name: (type, error_type, error_code, seconds before T0)
LINK = {
    "l_login": ("exit", "ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 7000),
    "l_creds": ("exit", "ITEM_ERROR", "INVALID_CREDENTIALS", 9000),
    "l_ok": ("success", None, None, 5000),
    "l_before": ("exit", "ITEM_ERROR", "INVALID_CREDENTIALS", 40 * 3600),
}


@pytest.fixture()
def dataset(db, db_url, app_env):
    refs: dict[str, str] = {}
    with db.begin() as conn:
        uid = conn.execute(text("INSERT INTO users_table (username) VALUES ('drill') RETURNING id")).scalar_one()
        items = {}
        for name, ins in (("A", "ins_1"), ("B", "ins_2")):
            items[name] = conn.execute(text(
                "INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status) "
                "VALUES (:u, :t, :p, :i, 'good') RETURNING id"),
                {"u": uid, "t": f"access-sandbox-{name}", "p": f"item{name}", "i": ins}).scalar_one()
        for name, (item, method, etype, code, secs) in API.items():
            refs[name] = str(conn.execute(text(
                "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, arguments, request_id, "
                "error_type, error_code, created_at) VALUES (:i, :u, :m, '[]', :r, :t, :c, :at) RETURNING id"),
                {"i": items.get(item), "u": uid, "m": method, "r": f"req-{name}", "t": etype, "c": code,
                 "at": T0 - timedelta(seconds=secs)}).scalar_one())
        for name, (kind, etype, code, secs) in LINK.items():
            refs[name] = "link-" + str(conn.execute(text(
                "INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type, error_code, "
                "status, created_at) VALUES (:k, :u, :s, :r, :t, :c, :st, :at) RETURNING id"),
                {"k": kind, "u": uid, "s": f"ls-{name}", "r": f"lreq-{name}", "t": etype, "c": code,
                 "st": "requires_credentials" if code else None, "at": T0 - timedelta(seconds=secs)}).scalar_one())
    app_env(db_url)
    return refs


def _trends(**params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "trends.py"), default_timeout=60)
    at.query_params.update({**WINDOW_URL, **params})
    at.run()
    assert not at.exception, at.exception
    return at


def _links(at: AppTest, key_column: str, *, has: str | None = None) -> dict[str, str]:
    """key -> investigate link, from the trends dataframe with that key column (and `has` column)."""
    for df in (d.value for d in at.dataframe):
        if key_column in df.columns and "events" in df.columns and (has is None or has in df.columns):
            return dict(zip(df[key_column], df["events"], strict=True))
    raise AssertionError(f"no dataframe with {key_column!r}")


def _listed(url: str) -> set[str]:
    at = AppTest.from_file(str(ROOT / "pages" / "investigate.py"), default_timeout=60)
    at.query_params.update({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
    at.run()
    assert not at.exception, at.exception
    if not at.dataframe:
        return set()
    return {e.split("event=")[1] for e in at.dataframe[0].value["event"]}


def _ids(refs: dict[str, str], *names: str) -> set[str]:
    return {refs[n] for n in names}


def test_api_rows_link_to_exactly_their_events(dataset):
    refs = dataset
    at = _trends()
    codes = _links(at, "key", has="error_type")
    assert _listed(codes["ITEM_LOGIN_REQUIRED"]) == _ids(refs, "a_login", "b_login", "a_login_edge")
    assert _listed(codes["INSTITUTION_DOWN"]) == _ids(refs, "b_down")
    assert _listed(codes["INVALID_FIELD"]) == _ids(refs, "orphan")
    # Method and institution rows link to their errors only: an outage's errors
    # must not sit pages down under the successes.
    methods = _links(at, "key", has="calls")
    assert _listed(methods["transactionsSync"]) == _ids(refs, "a_login", "b_login", "a_login_edge")
    assert _listed(methods["itemGet"]) == _ids(refs, "b_down")
    institutions = _links(at, "label")
    by_id = {k.rsplit("(", 1)[-1].rstrip(")") if "(" in k else k: v for k, v in institutions.items()}
    assert _listed(by_id["ins_1"]) == _ids(refs, "a_login", "a_login_edge")
    assert _listed(by_id["ins_2"]) == _ids(refs, "b_login", "b_down")
    assert _listed(by_id["unknown institution"]) == _ids(refs, "orphan")


def test_filtered_trends_rows_keep_their_filters(dataset):
    refs = dataset
    at = _trends(triage="user action")
    methods = _links(at, "key", has="calls")
    # Trends counts the user-action errors of the method: exactly those are listed.
    assert _listed(methods["transactionsSync"]) == _ids(refs, "a_login", "b_login", "a_login_edge")
    at = _trends(institution="ins_2", method="itemGet")
    codes = _links(at, "key", has="error_type")
    assert list(codes) == ["INSTITUTION_DOWN"]
    assert _listed(codes["INSTITUTION_DOWN"]) == _ids(refs, "b_down")
    at = _trends(institution="unknown")
    assert _listed(_links(at, "key", has="error_type")["INVALID_FIELD"]) == _ids(refs, "orphan")


def test_link_error_codes_link_to_link_exits(dataset):
    refs = dataset
    at = _trends()
    link_codes = _links(at, "key", has="exits")
    assert _listed(link_codes["ITEM_LOGIN_REQUIRED"]) == _ids(refs, "l_login")
    assert _listed(link_codes["INVALID_CREDENTIALS"]) == _ids(refs, "l_creds")


def test_source_filter_is_validated_and_described(dataset):
    from dashboard.investigate import Filters, InvestigateError

    assert Filters.parse(None, None, None, None, "API").source == "api"
    assert Filters.parse(None, None, "unknown", None, "api").describe() == (
        "institution = unknown, source = Plaid API calls only")
    with pytest.raises(InvestigateError, match="source"):
        Filters.parse(None, None, None, None, "both")
    at = AppTest.from_file(str(ROOT / "pages" / "investigate.py"), default_timeout=60)
    at.query_params.update({**WINDOW_URL, "source": "nope"})
    at.run()
    assert not at.exception and any("source filter" in e.value for e in at.error)
    # source alone: every API call of the window, no Link event
    assert _listed("/investigate?" + "&".join(f"{k}={v}" for k, v in {**WINDOW_URL, "source": "api"}.items())) == (
        _ids(dataset, "a_login", "b_login", "a_get_ok", "b_down", "orphan", "a_sync_ok", "a_login_edge"))


def test_errors_only_filter_is_a_checkbox_kept_in_the_url(dataset):
    refs = dataset
    base = "/investigate?" + "&".join(f"{k}={v}" for k, v in WINDOW_URL.items()) + "&institution=ins_1"
    assert _listed(base) == _ids(refs, "a_login", "a_get_ok", "a_sync_ok", "a_login_edge")
    assert _listed(base + "&errors=true") == _ids(refs, "a_login", "a_login_edge")
    assert _listed(base + "&errors=1") == _ids(refs, "a_login", "a_login_edge")
    at = AppTest.from_file(str(ROOT / "pages" / "investigate.py"), default_timeout=60)
    at.query_params.update({**WINDOW_URL})
    at.run()
    at.checkbox(key="errors_only").check().run()
    assert not at.exception, at.exception
    assert at.query_params["errors"] == "1"
    listed = {e.split("event=")[1] for e in at.dataframe[0].value["event"]}
    # Every failed API call and Link error in the window, no success.
    assert listed == _ids(refs, "a_login", "b_login", "b_down", "orphan", "a_login_edge", "l_login", "l_creds")
