"""Every page opens without an exception, from app.py and when run directly."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


def _texts(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [m.value for m in at.markdown] + [t.value for t in at.title]
    return "\n".join(str(p) for p in parts)


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_directly_without_exception(page, app_env, seeded_url):
    app_env(seeded_url, DASHBOARD_LOCAL_ADMIN="1")
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert not at.exception, at.exception
    assert "Simulated" in _texts(at)  # the sidebar says Plaid is simulated


@pytest.mark.parametrize("page", PAGES)
def test_page_opens_through_navigation(page, app_env, seeded_url):
    app_env(seeded_url, DASHBOARD_LOCAL_ADMIN="1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_admin_page_refuses_without_admin_rights(app_env, seeded_url, monkeypatch):
    monkeypatch.delenv("DASHBOARD_LOCAL_ADMIN", raising=False)
    app_env(seeded_url)
    at = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60).run()
    assert not at.exception
    assert any("Access denied" in e.value for e in at.error)


def test_database_down_gives_a_clear_message(app_env):
    app_env("postgresql+psycopg2://postgres@127.0.0.1:9/nowhere")
    at = AppTest.from_file(str(ROOT / "pages" / "trends.py"), default_timeout=60).run()
    assert not at.exception
    assert any("not reachable" in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Retry"]
