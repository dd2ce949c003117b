"""The admin page through AppTest: access rules, the simulated-Plaid banner, a batch
run from a health-page link, its results and its audit row."""

from __future__ import annotations

from pathlib import Path

from admin_helpers import add_items, events
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.database import make_engine

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "admin.py")


def _page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at


def test_local_run_without_opt_in_is_refused(app_env, db_url, monkeypatch):
    monkeypatch.delenv("DASHBOARD_LOCAL_ADMIN", raising=False)
    app_env(db_url)
    at = _page(items="p1").run()
    assert not at.exception
    assert any("Access denied" in e.value and "DASHBOARD_LOCAL_ADMIN" in e.value for e in at.error)
    assert not at.button and not at.dataframe


def test_oidc_allow_list(app_env, db_url, monkeypatch):
    monkeypatch.setenv("DASHBOARD_LOCAL_ADMIN", "1")  # ignored once OIDC is configured
    app_env(db_url, DASHBOARD_ADMIN_EMAILS="ops@example.com")
    for user, allowed in (
        ({"is_logged_in": False}, False),
        ({"is_logged_in": True, "email": "someone@example.com"}, False),
        ({"is_logged_in": True, "email": "OPS@example.com"}, True),
    ):
        at = _page()
        at.secrets["auth"] = {"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x"}
        at.user = user
        at.run()
        assert not at.exception
        denied = any("Access denied" in e.value for e in at.error)
        assert denied is not allowed, user
        if allowed:
            assert "ops@example.com" in "\n".join(m.value for m in at.caption)


def test_batch_from_health_link_runs_and_is_audited(app_env, db_url):
    engine = make_engine(db_url)
    ids = add_items(engine, [("p1", "access-sandbox-healthy-a1", "ins_1"),
                             ("p2", "access-sandbox-login-required-a2", "ins_1"),
                             ("p3", "access-sandbox-healthy-a3", "ins_1")])
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    at = _page(items="p1,p2").run()
    assert not at.exception, at.exception
    assert any("Plaid is simulated" in w.value for w in at.warning)
    assert [m.value for m in at.metric][:2] == ["2", "0"]
    run = at.button(key="admin_run")
    assert run.disabled  # nothing runs before the confirmation
    at.checkbox(key="admin_confirm").check().run()
    at.button(key="admin_run").click().run()
    assert not at.exception, at.exception
    # A failed item makes it a warning, not a green success box.
    assert any("Batch finished: 1 error, 1 ok" in w.value for w in at.warning)
    assert not any("Batch finished" in s.value for s in at.success)
    results = at.dataframe[1].value
    assert list(results.columns[:4]) == ["plaid_item_id", "institution", "action", "outcome"]
    assert results[["plaid_item_id", "outcome", "error_code", "triage", "status_after"]].values.tolist() == [
        ["p1", "ok", "", "", "good"], ["p2", "error", "ITEM_LOGIN_REQUIRED", "user action", "bad"]]
    trail = at.dataframe[2].value
    assert trail[["actor", "action", "outcome", "items", "plaid_item_ids"]].values.tolist() == [
        ["local-operator", "item_status", "finished: 1 error, 1 ok", 2, "p1 p2"]]
    rows = events(engine)
    assert sorted(r["item_id"] for r in rows) == [ids["p1"], ids["p2"]]
    assert all("access-sandbox" not in (r["arguments"] or "") for r in rows)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status FROM items_table WHERE id = :i"), {"i": ids["p2"]}).scalar() == "bad"
    # Nothing on the page carries a token.
    page_text = repr([e.value for e in at.dataframe]) + repr([m.value for m in at.markdown])
    assert "access-sandbox" not in page_text
    engine.dispose()


def test_no_filter_shows_the_audit_but_no_run_button(app_env, db_url):
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    at = _page().run()
    assert not at.exception
    # Unset status and health read "any", as on the health page.
    assert [at.selectbox(key=k).options[0] for k in ("status", "health")] == ["any", "any"]
    assert not [b for b in at.button if b.key == "admin_run"]
    assert any("Pick items first" in i.value for i in at.info)
    assert any("No admin action" in i.value for i in at.info)


def test_production_needs_typed_confirmation_and_has_no_reset_login(app_env, db_url):
    engine = make_engine(db_url)
    add_items(engine, [("p1", "access-production-healthy-1", "ins_1")])
    engine.dispose()
    # Fake credentials: the page builds a real Plaid client but nothing runs, so nothing is sent.
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1", PLAID_CLIENT_ID="id", PLAID_SECRET="secret", PLAID_ENV="production")
    at = _page(items="p1").run()
    assert not at.exception, at.exception
    assert any("Production Plaid" in e.value for e in at.error)
    assert not any("simulated" in w.value for w in at.warning)
    assert at.selectbox(key="admin_action").options == [
        "Item status (/item/get)", "Transactions refresh (/transactions/refresh)",
        "Transactions sync (/transactions/sync)", "Balance refresh (/accounts/balance/get)"]
    at.checkbox(key="admin_confirm").check().run()
    assert at.button(key="admin_run").disabled
    at.text_input(key="admin_prod_confirm").input("PRODUCTION").run()
    assert not at.button(key="admin_run").disabled


def test_second_tab_is_refused_unless_run_again_is_ticked(app_env, db_url):
    engine = make_engine(db_url)
    add_items(engine, [("p1", "access-sandbox-healthy-b1", "ins_1"), ("p2", "access-sandbox-healthy-b2", "ins_1")])
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    tab_a, tab_b = _page(items="p1,p2").run(), _page(items="p1,p2").run()
    for tab in (tab_a, tab_b):
        tab.checkbox(key="admin_confirm").check().run()
    tab_a.button(key="admin_run").click().run()
    tab_b.button(key="admin_run").click().run()
    assert not tab_b.exception, tab_b.exception
    assert any("already ran as batch" in w.value and "Repeat anyway" in w.value for w in tab_b.warning)
    assert len(events(engine)) == 2
    tab_b.checkbox(key="admin_run_again").check().run()
    tab_b.button(key="admin_run").click().run()
    assert any("Batch finished: 2 ok" in s.value for s in tab_b.success)
    assert len(events(engine)) == 4
    engine.dispose()


def test_items_link_accepts_internal_ids_and_names_the_missing_and_malformed(app_env, db_url):
    engine = make_engine(db_url)
    ids = add_items(engine, [("p1", "access-sandbox-healthy-c1", "ins_1"),
                             ("p2", "access-sandbox-healthy-c2", "ins_1")])
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    at = _page(items=f"{ids['p1']},p2,999999,nope-x,bad;id").run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:1] == ["2"]  # p1 by internal id, p2 by plaid_item_id
    assert any("4 item(s) passed in the link" in i.value for i in at.info)
    assert any("2 of them match no item: `999999`, `nope-x`" in w.value for w in at.warning)
    assert any("'bad;id'" in e.value and "not item ids" in e.value for e in at.error)
    engine.dispose()


def test_malformed_institution_and_code_filters_say_what_they_should_look_like(app_env, db_url):
    app_env(db_url, DASHBOARD_LOCAL_ADMIN="1")
    at = _page(institution="chase").run()
    assert not at.exception, at.exception
    assert any("Institution ids look like ins_123" in e.value for e in at.error)
    at = _page(code="login required!").run()
    assert any("Error codes look like ITEM_LOGIN_REQUIRED" in e.value for e in at.error)
