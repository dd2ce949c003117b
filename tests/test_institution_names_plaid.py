"""Institution names on the health page come from Plaid's /institutions/get_by_id when
real credentials are configured: through the real plaid-python client (pointed at
the stand-in), logged once, cached in dashboard_institutions."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_helpers import add_items, events
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard import plaid_client
from dashboard.config import load_settings
from dashboard.institution_names import plaid_name_fetcher
from dashboard.item_health import list_items
from dashboard.plaid_standin import PlaidStandin, StandinState
from dashboard.timewindow import resolve_window

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"PLAID_CLIENT_ID": "real-looking-id", "PLAID_SECRET": "real-looking-secret", "PLAID_ENV": "sandbox"}


@pytest.fixture()
def fake_plaid(monkeypatch):
    """The stand-in, accepting the "real" keys, as Plaid's sandbox host."""
    server = PlaidStandin(StandinState(client_id=KEYS["PLAID_CLIENT_ID"], secret=KEYS["PLAID_SECRET"]))
    monkeypatch.setitem(plaid_client.PLAID_HOSTS, "sandbox", server.url)
    yield server
    server.close()


def _name_calls(engine):
    return [e for e in events(engine) if e["plaid_method"] == "institutionsGetById"]


def _cache(engine):
    with engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT plaid_institution_id, name FROM dashboard_institutions ORDER BY 1")).all())


def test_simulated_plaid_fetches_nothing(db):
    assert plaid_name_fetcher(load_settings({}), db) is None


def test_names_fetched_logged_once_and_cached(db, fake_plaid):
    add_items(db, [("p1", "access-sandbox-healthy-1", "ins_109508"), ("p2", "access-sandbox-healthy-2", "ins_109508"),
                   ("p3", "access-sandbox-healthy-3", "ins_117650")])
    fetch = plaid_name_fetcher(load_settings(KEYS), db)
    assert fetch is not None
    window = resolve_window("24h")
    # demo=False: the names can only come from Plaid (the stand-in) or the cache, never the demo table.
    first = list_items(db, window, fetch=fetch, demo=False).items
    assert dict(zip(first["plaid_item_id"], first["institution"], strict=True)) == {
        "p1": "First Platypus Bank", "p2": "First Platypus Bank", "p3": "Royal Bank of Plaid"}
    calls = _name_calls(db)
    assert len(calls) == 2  # one per institution, not per item
    assert all(c["item_id"] is None and c["error_code"] is None and c["request_id"] for c in calls)
    assert sorted(c["arguments"].split('"institution_id": "')[1][:10] for c in calls) == ["ins_109508", "ins_117650"]
    assert "real-looking-secret" not in "".join(c["arguments"] for c in calls)
    assert _cache(db) == {"ins_109508": "First Platypus Bank", "ins_117650": "Royal Bank of Plaid"}
    # A second view (a new fetcher, as on the next page run) is served by the cache.
    again = list_items(db, window, fetch=plaid_name_fetcher(load_settings(KEYS), db), demo=False).items
    assert list(again["institution"]) == list(first["institution"])
    assert len(_name_calls(db)) == 2


def test_unknown_institution_shows_its_id(db, fake_plaid):
    add_items(db, [("p9", "access-sandbox-healthy-9", "ins_999999")])
    items = list_items(db, resolve_window("24h"), fetch=plaid_name_fetcher(load_settings(KEYS), db)).items
    assert list(items["institution"]) == ["ins_999999"]
    assert [c["error_code"] for c in _name_calls(db)] == ["INVALID_INSTITUTION"]
    assert _cache(db) == {}


def test_health_page_shows_names_from_plaid(app_env, db_url, fake_plaid):
    from dashboard.database import make_engine

    engine = make_engine(db_url)
    add_items(engine, [("p1", "access-sandbox-healthy-1", "ins_200001")])
    app_env(db_url, **KEYS)
    at = AppTest.from_file(str(ROOT / "pages" / "health.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["institution"]) == ["Harbor Light Savings"]
    assert len(_name_calls(engine)) == 1
    at.run()
    assert len(_name_calls(engine)) == 1  # the rerun used the cache
    engine.dispose()
