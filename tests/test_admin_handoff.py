"""From the health list to the admin page: the URL names the listed items (or, for a long
list, the shared filters), and the admin page reads it back to the same items."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from dashboard.batches import BatchCriteria, parse_item_list, select_items
from dashboard.item_health import admin_refresh_link, list_items
from dashboard.page_links import admin_url
from dashboard.timewindow import resolve_window
from tests.health_data import T0, build_histories, h

ROOT = Path(__file__).resolve().parent.parent
WINDOW = resolve_window("custom", h(-24), T0)
CUSTOM = {"window": "custom", "window_start": h(-24).replace(tzinfo=None).isoformat(),
          "window_end": T0.replace(tzinfo=None).isoformat()}


def _params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_admin_url_round_trip():
    url = admin_url(["item-a", "item_b", "c"], window="7d")
    assert url == "/admin?items=item-a%2Citem_b%2Cc&window=7d"
    assert parse_item_list(_params(url)["items"]) == ("item-a", "item_b", "c")
    assert admin_url(health="needs user action", institution=None) == "/admin?health=needs+user+action"
    assert admin_url() == "/admin"


def test_refresh_link_by_ids_then_by_filters(db):
    with db.begin() as conn:
        build_histories(conn)
    listed = list_items(db, WINDOW, health="needs user action", institution="ins_1")
    url, exact = admin_refresh_link(listed, "needs user action", CUSTOM)
    assert exact
    assert parse_item_list(_params(url)["items"]) == ("itemUserB", "itemBadC")
    assert "health" not in _params(url)  # the ids say it all
    # A truncated list: the filters travel instead, and the admin's selection finds the same items.
    long = list_items(db, WINDOW, health="needs user action", institution="ins_1", row_limit=1)
    assert long.truncated
    url, exact = admin_refresh_link(long, "needs user action", CUSTOM)
    p = _params(url)
    assert not exact and "items" not in p
    assert p == {**CUSTOM, "health": "needs user action", "institution": "ins_1"}
    picked = select_items(db, BatchCriteria(window=WINDOW, health=p["health"], institution=p["institution"]))
    assert [i.plaid_item_id for i in picked] == ["itemUserB", "itemBadC"]


def test_health_page_link_opens_the_same_items_on_the_admin_page(app_env, db_url, db):
    with db.begin() as conn:
        build_histories(conn)
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    health = AppTest.from_file(str(ROOT / "pages" / "health.py"), default_timeout=60)
    health.query_params.update({**CUSTOM, "health": "failing transiently"})
    health.run()
    assert not health.exception, health.exception
    listed = list(health.dataframe[0].value["plaid_item_id"])
    assert sorted(listed) == ["itemTransE", "itemUnknownH"]
    [button] = [b for b in health.get("link_button") if b.proto.label == "Refresh these items on the admin page"]
    url = button.proto.url
    assert urlsplit(url).path == "/admin"
    admin = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60)
    admin.query_params.update(_params(url))
    admin.run()
    assert not admin.exception, admin.exception
    assert sorted(admin.dataframe[0].value["plaid_item_id"]) == sorted(listed)
    assert admin.metric[0].value == "2"
