"""The health page through AppTest: filters from the URL, item detail, bad input, empty database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.health_data import T0, build_histories

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "health.py")
CUSTOM = {"window": "custom", "window_start": (T0 - timedelta(hours=24)).replace(tzinfo=None).isoformat(),
          "window_end": T0.replace(tzinfo=None).isoformat()}


def _run(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _text(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [m.value for m in at.markdown] + [i.value for i in at.info]
    parts += [w.value for w in at.warning] + [s.value for s in at.success] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts)


@pytest.fixture()
def histories_url(db_url, db, app_env):
    with db.begin() as conn:
        build_histories(conn)
    app_env(db_url)
    return db_url


def test_items_view_with_filters_from_the_url(histories_url):
    at = _run(**CUSTOM, health="needs user action")
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert sorted(frame["plaid_item_id"]) == ["itemBadC", "itemUserB"]
    assert set(frame["health"]) == {"needs user action"}
    assert frame["detail"].iloc[0].startswith("/health?item=item")
    assert set(frame["investigate"]) == {"/investigate?q=itemBadC", "/investigate?q=itemUserB"}
    assert "2 items need the user to re-link" in _text(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"broken by our integration": "2", "Plaid-side": "2", "needs user action": "2",
                       "failing transiently": "2", "healthy": "4"}
    assert not any("access-sandbox" in str(v) for v in frame.to_numpy().ravel())


def test_items_view_institution_and_code_filters(histories_url):
    at = _run(**CUSTOM, institution="ins_2")
    assert sorted(at.dataframe[0].value["plaid_item_id"]) == ["itemOursD", "itemTransE"]
    at = _run(**CUSTOM, code="INSTITUTION_DOWN", status="good")
    assert sorted(at.dataframe[0].value["plaid_item_id"]) == ["itemPersistF", "itemTransE"]
    at = _run(**CUSTOM, institution="ins_404")
    assert not at.exception and not at.dataframe
    assert "No items match these filters." in _text(at)
    at = _run(**CUSTOM, institution="ins_none")
    assert not at.exception and not at.dataframe
    assert any("Institution ids look like ins_123" in e.value for e in at.error)


def test_item_detail_by_url(histories_url):
    at = _run(**CUSTOM, item="itemUserB")
    assert not at.exception, at.exception
    text = _text(at)
    assert "Health: needs user action" in text and "update mode" in text
    assert {m.label: m.value for m in at.metric}["Consecutive failures"] == "2"
    streaks, timeline = at.dataframe[0].value, at.dataframe[1].value  # no accounts: empty state first
    assert list(streaks["failures"]) == [2, 1]
    assert list(timeline["source"]) == ["api"] * 4
    assert "This item has no accounts stored." in text


def test_unknown_and_invalid_item(histories_url):
    at = _run(**CUSTOM, item="doesNotExist")
    assert not at.exception
    assert any("No item with plaid_item_id doesNotExist" in e.value for e in at.error)
    at = _run(item="<script>alert(1)</script>")
    assert not at.exception
    assert any("not a Plaid item id" in e.value for e in at.error)


def test_institutions_and_stale_views(histories_url):
    at = _run(**CUSTOM, view="Institutions")
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert list(frame["plaid_institution_id"])[:1] == ["ins_3"]  # 6 calls, 5 errors: the worst rate
    assert "institution(s) flagged" in _text(at)
    # A window without calls: the empty state, not a table of zeros and None.
    at = _run(view="Institutions", window="custom", window_start="2027-01-01", window_end="2027-01-02")
    assert not at.exception, at.exception
    assert not at.dataframe
    assert "No Plaid calls in" in _text(at) and "institution(s) flagged" not in _text(at)
    at = _run(view="Stale", stale_days="30")
    assert not at.exception, at.exception
    # T0 is in the past: nothing succeeded in the last 30 days of the real clock.
    assert at.number_input[0].value == 30
    assert "12 item(s) without a successful call in the last 30 day(s)" in _text(at)


def test_bad_window_and_empty_database(db_url, app_env):
    app_env(db_url)
    at = _run()
    assert not at.exception
    assert "No items in this database." in _text(at)
    at = _run(view="Institutions")
    assert "No institutions: this database has no items." in _text(at)
    at = _run(view="Stale")
    assert "No stale items" in _text(at)
    at = _run(window="custom", window_start="yesterday", window_end="now")
    assert not at.exception
    assert any("is not a date" in e.value for e in at.error)


def test_unknown_url_values_fall_back_to_defaults(histories_url):
    at = _run(**CUSTOM, health="sick", status="weird", view="Bogus")
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 12  # every item: the bad values were ignored


def test_seeded_outage_window_on_the_page(app_env, seeded, seeded_url):
    from dashboard.seed import seeded_stories

    stories = seeded_stories(seeded)
    app_env(seeded_url)
    at = _run(view="Institutions", window="custom",
              window_start=stories.outage_start.replace(tzinfo=None).isoformat(),
              window_end=stories.outage_end.replace(tzinfo=None).isoformat())
    assert not at.exception, at.exception
    frame = at.dataframe[0].value
    assert frame["plaid_institution_id"].iloc[0] == "ins_109511" and frame["name"].iloc[0] == "Tartan Bank"
    assert bool(frame["flagged"].iloc[0])
