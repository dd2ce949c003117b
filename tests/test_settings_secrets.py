"""Settings come from st.secrets with the environment on top, in one place, so the
sidebar's Plaid label and the Plaid client always agree."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dashboard.config import load_settings, merged_source
from dashboard.plaid_client import make_client

ROOT = Path(__file__).resolve().parent.parent
PLAID_KEYS = ("PLAID_CLIENT_ID", "PLAID_SECRET", "PLAID_ENV", "DASHBOARD_LOCAL_ADMIN", "DASHBOARD_ADMIN_EMAILS")


def test_environment_wins_over_secrets_and_blank_environment_values_do_not_hide_them():
    secrets = {"PLAID_CLIENT_ID": "sid", "PLAID_SECRET": "ssecret", "PLAID_ENV": "production",
               "DASHBOARD_ADMIN_EMAILS": "A@x.com", "auth": {"cookie_secret": "not a setting"}}
    env = {"PLAID_ENV": "sandbox", "PLAID_SECRET": "  ", "DATABASE_URL": "postgresql://env/db", "HOME": "/root"}
    merged = merged_source(secrets, env)
    assert merged == {"PLAID_CLIENT_ID": "sid", "PLAID_SECRET": "ssecret", "PLAID_ENV": "sandbox",
                      "DASHBOARD_ADMIN_EMAILS": "A@x.com", "DATABASE_URL": "postgresql://env/db"}
    s = load_settings(merged)
    assert (s.plaid_client_id, s.plaid_secret, s.plaid_env, s.plaid_simulated) == ("sid", "ssecret", "sandbox", False)
    assert s.admin_emails == frozenset({"a@x.com"})
    assert merged_source(None, {}) == {}
    assert load_settings(merged_source({}, {})).plaid_simulated


def test_make_client_uses_only_the_settings(db, monkeypatch):
    for k in PLAID_KEYS:
        monkeypatch.delenv(k, raising=False)
    assert make_client(load_settings({}), db).simulated
    real = make_client(load_settings(merged_source({"PLAID_CLIENT_ID": "i", "PLAID_SECRET": "s"}, {})), db)
    assert not real.simulated and real.plaid_env == "sandbox"


def _sidebar_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


def test_keys_only_in_secrets_reach_sidebar_and_client(app_env, db_url, monkeypatch, tmp_path):
    for k in PLAID_KEYS:
        monkeypatch.delenv(k, raising=False)
    app_env(db_url)
    monkeypatch.delenv("DATABASE_URL")  # the database, too, only in secrets
    monkeypatch.setenv("DASHBOARD_PGDATA", str(tmp_path / "never-used"))
    at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60)
    at.secrets.update({"PLAID_CLIENT_ID": "cid-from-secrets", "PLAID_SECRET": "secret-from-secrets",
                       "PLAID_ENV": "production", "DASHBOARD_LOCAL_ADMIN": "1", "DATABASE_URL": db_url})
    at.run()
    assert not at.exception, at.exception
    sidebar = _sidebar_text(at)
    assert "**Plaid:** production" in sidebar and "Simulated" not in sidebar
    # The page's client was built from the same settings: production banner, no simulated banner.
    assert any("Production Plaid" in e.value for e in at.error)
    assert not any("Plaid is simulated" in w.value for w in at.warning)
    assert not (tmp_path / "never-used").exists()  # DATABASE_URL from secrets was used
    assert "secret-from-secrets" not in str(at._tree)


def test_environment_overrides_secrets_on_the_page(app_env, db_url, monkeypatch):
    for k in PLAID_KEYS:
        monkeypatch.delenv(k, raising=False)
    app_env(db_url, PLAID_ENV="sandbox")
    at = AppTest.from_file(str(ROOT / "pages" / "health.py"), default_timeout=60)
    at.secrets.update({"PLAID_CLIENT_ID": "cid", "PLAID_SECRET": "sec", "PLAID_ENV": "production"})
    at.run()
    assert not at.exception, at.exception
    assert "**Plaid:** sandbox" in _sidebar_text(at)


def test_without_keys_anywhere_the_sidebar_says_simulated(app_env, db_url, monkeypatch):
    for k in PLAID_KEYS:
        monkeypatch.delenv(k, raising=False)
    app_env(db_url)
    at = AppTest.from_file(str(ROOT / "pages" / "health.py"), default_timeout=60)
    at.secrets["PLAID_CLIENT_ID"] = "only-the-id"
    at.run()
    assert not at.exception, at.exception
    assert "Simulated" in _sidebar_text(at)
