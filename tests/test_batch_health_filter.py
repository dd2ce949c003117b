"""The admin batch health filter: "all items that need user action" (or failing
transiently, ...) selected in dashboard/batches.py on a constructed dataset, and the
URL-bound selectbox on the admin page."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.batches import BatchCriteria, select_items
from dashboard.database import make_engine
from dashboard.health_rule import Health
from dashboard.timewindow import resolve_window
from tests.health_data import T0, build_histories, h

ROOT = Path(__file__).resolve().parent.parent
WINDOW = resolve_window("custom", h(-24), T0)


def _pick(engine, **kw) -> list[str]:
    return [i.plaid_item_id for i in select_items(engine, BatchCriteria(window=WINDOW, **kw))]


def test_health_filter_selects_exactly_the_items_with_that_health(db):
    with db.begin() as conn:
        ids = build_histories(conn)
    assert _pick(db, health="needs user action") == ["itemUserB", "itemBadC"]
    assert _pick(db, health=Health.TRANSIENT.value) == ["itemTransE", "itemUnknownH"]
    assert _pick(db, health="Plaid-side") == ["itemPersistF", "itemPlaidG"]
    assert _pick(db, health="broken by our integration") == ["itemOursD", "itemFallbackI"]
    assert _pick(db, health="healthy") == ["itemHealthyA", "itemQuietJ", "itemOldK", "itemFutureL"]
    # Combined with the other filters, and with explicit ids
    assert _pick(db, health="failing transiently", institution="ins_3") == ["itemUnknownH"]
    assert _pick(db, health="needs user action", status="bad") == ["itemBadC"]
    assert _pick(db, health="needs user action", plaid_item_ids=("itemBadC", "itemTransE")) == ["itemBadC"]
    assert _pick(db, health="needs user action", item_ids=(ids["itemUserB"][0], ids["itemTransE"][0])) == [
        "itemUserB"]
    # Health is derived as of the window's end: 200 h back, itemOldK's login error (at -240 h) is the
    # latest thing that happened to it, and itemUserB's errors had not happened yet.
    assert [i.plaid_item_id for i in select_items(db, BatchCriteria(
        health="needs user action", window=resolve_window("custom", h(-24 * 30), h(-200))))] == [
        "itemBadC", "itemOldK"]
    with pytest.raises(ValueError, match="Unknown health"):
        select_items(db, BatchCriteria(health="sick", window=WINDOW))
    with pytest.raises(ValueError, match="time window"):
        select_items(db, BatchCriteria(health="healthy"))


def test_admin_page_health_filter_from_the_url(app_env, db_url):
    engine = make_engine(db_url)
    with engine.begin() as conn:
        build_histories(conn)
    engine.dispose()
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60)
    at.query_params.update({"health": "needs user action", "window": "custom",
                            "window_start": h(-24).replace(tzinfo=None).isoformat(),
                            "window_end": T0.replace(tzinfo=None).isoformat()})
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="health").value == "needs user action"
    assert list(at.dataframe[0].value["plaid_item_id"]) == ["itemUserB", "itemBadC"]
    assert at.metric[0].value == "2"
    # Changing the selectbox changes the batch
    at.selectbox(key="health").select("failing transiently").run()
    assert list(at.dataframe[0].value["plaid_item_id"]) == ["itemTransE", "itemUnknownH"]
