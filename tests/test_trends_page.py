"""The trends page through AppTest: shown numbers equal the functions', empty states, demo flags."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.link_analytics import link_headline
from dashboard.trends import ApiFilters, api_headline
from tests.test_link_analytics import EVENTS as LINK_EVENTS
from tests.test_trends import SPRING, SPRING_EVENTS, add_events, add_items

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "trends.py")


def _run(url_params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in (url_params or {}).items():
        at.query_params[k] = v
    return at.run()


def _metrics(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.info, *at.warning, *at.markdown, *at.caption, *at.success])


SPRING_URL = {"window": "custom", "window_start": "2026-03-07T12:00", "window_end": "2026-03-08T12:00"}


def test_page_shows_the_functions_numbers(app_env, db_url, db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_A")])
    add_events(db, SPRING_EVENTS)
    app_env(db_url)
    at = _run(SPRING_URL)
    assert not at.exception, at.exception
    h = api_headline(db, SPRING, ApiFilters())
    m = _metrics(at)
    assert m["Calls"] == (f"{h.calls:,}", "+8") == ("10", "+8")
    assert m["Errors"] == ("6", "+5")
    assert m["Error rate"] == ("60.0%", "+10.0 pp")
    assert m["Items affected"] == ("4", "+3")
    codes = at.dataframe[0].value
    assert codes["key"].tolist() == ["ITEM_LOGIN_REQUIRED", "INSTITUTION_DOWN", "ITEM_NOT_FOUND", "SOME_NEW_CODE"]
    assert codes["errors"].tolist() == [3, 1, 1, 1]
    assert codes.set_index("key").loc["SOME_NEW_CODE", "triage_class"] == "unclassified"
    link = codes.set_index("key").loc["ITEM_LOGIN_REQUIRED", "events"]
    assert link.startswith("/investigate?") and "code=ITEM_LOGIN_REQUIRED" in link and "window=custom" in link
    assert "unknown institution" in at.dataframe[2].value["label"].tolist()


def test_filters_come_from_the_url(app_env, db_url, db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_A")])
    add_events(db, SPRING_EVENTS)
    app_env(db_url)
    at = _run({**SPRING_URL, "institution": "ins_A", "triage": "user action"})
    assert not at.exception, at.exception
    assert at.selectbox(key="institution").value == "ins_A"
    h = api_headline(db, SPRING, ApiFilters(institution="ins_A", triage_class="user action"))
    assert _metrics(at)["Calls"][0] == str(h.calls) == "5"
    assert _metrics(at)["Errors"][0] == str(h.errors) == "3"
    link = at.dataframe[0].value["events"].iloc[0]
    assert "institution=ins_A" in link and "triage=user+action" in link


def test_link_tab_numbers(app_env, db_url, db):
    from sqlalchemy import text

    from tests.test_link_analytics import WINDOW

    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO link_events_table (type, user_id, link_session_id, error_type, error_code, status, "
                 "created_at) VALUES (:t, 1, :s, :et, :c, :st, :at)"),
            [dict(zip(("t", "s", "et", "c", "st", "at"), e, strict=True)) for e in LINK_EVENTS],
        )
    app_env(db_url)
    at = _run({"window": "custom", "window_start": "2026-10-31T12:00", "window_end": "2026-11-01T12:00"})
    assert not at.exception, at.exception
    lh = link_headline(db, WINDOW)
    m = _metrics(at)
    assert m["Link sessions"][0] == str(lh.sessions) == "6"
    assert m["Conversion"][0] == "33.3%"
    assert m["Exits with error"][0] == "3" and m["Exits without error"][0] == "2"
    assert "No Plaid API calls in this window." in _texts(at)


def test_empty_database_shows_empty_states(app_env, db_url):
    app_env(db_url)
    at = _run()
    assert not at.exception, at.exception
    text_ = _texts(at)
    assert "No Plaid API calls in this window." in text_
    assert "No Link sessions in this window." in text_
    assert _metrics(at)["Calls"][0] == "0" and _metrics(at)["Error rate"][0] == "—"


def test_bad_custom_window_is_a_message(app_env, db_url):
    app_env(db_url)
    at = _run({"window": "custom", "window_start": "yesterday", "window_end": "2026-01-01"})
    assert not at.exception
    assert any("not a date" in e.value for e in at.error)


def test_seeded_default_window_flags_the_stories(app_env, seeded_url):
    app_env(seeded_url)
    at = _run()
    assert not at.exception, at.exception
    flags = "\n".join(w.value for w in at.warning)
    assert "ins\\_109511" in flags or "ins_109511" in flags
    for needle in ("109511", "109509", "109508", "TRANSACTIONS", "REFRESH", "new code", "peer outlier"):
        assert needle in flags, needle
    assert any("median error rate" in str(m.value) for m in at.markdown)


def test_stack_by_error_type_and_method_filter_from_url(app_env, db_url, db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_A")])
    add_events(db, SPRING_EVENTS)
    app_env(db_url)
    at = _run({**SPRING_URL, "stack": "type", "method": "accountsGet"})
    assert not at.exception, at.exception
    assert any("by error type" in str(h.value) for h in at.subheader)
    assert _metrics(at)["Calls"][0] == "3" and _metrics(at)["Errors"][0] == "2"
    assert at.dataframe[0].value["key"].tolist() == ["INSTITUTION_DOWN", "SOME_NEW_CODE"]


def test_url_values_outside_the_window_or_invalid(app_env, db_url, db):
    add_items(db, [(1, "ins_A"), (2, "ins_B"), (3, "ins_A")])
    add_events(db, SPRING_EVENTS)
    app_env(db_url)
    at = _run({**SPRING_URL, "code": "NEVER_SEEN_CODE", "triage": "bogus"})
    assert not at.exception, at.exception
    assert at.selectbox(key="code").value == "NEVER_SEEN_CODE"  # a shared link keeps its filter
    assert at.selectbox(key="triage").value is None  # an invalid class is dropped, not an error
    m = _metrics(at)
    assert m["Calls"][0] == "10" and m["Errors"][0] == "0"
    assert "Nothing flagged in this window." in _texts(at)
