"""Generated input in every free-text field the pages read from the URL: no
exception, no SQL error, no injection (tables, row counts and a sentinel row
are unchanged afterwards).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fuzzing import INJECTIONS, SQL_TROUBLE, database_fingerprint, free_text, plant_sentinel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard.database import make_engine
from dashboard.seed import seed

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible in CI
    database=None,  # and nothing written into the checkout (.hypothesis/)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# The window picker as every page uses it, followed by a bounded query over the window.
WINDOW_PROBE = """
import streamlit as st
from dashboard.database import read_rows
from dashboard.ui import guarded, page_setup, window_picker
ctx = page_setup("Fuzz")
w = window_picker()
n = guarded(read_rows, ctx.engine,
    "SELECT count(*) AS n FROM plaid_api_events_table WHERE created_at >= :start AND created_at < :end "
    "LIMIT :row_limit", {**w.params(), "row_limit": 1})[0]["n"]
st.write(f"events: {n}")
"""


@pytest.fixture(scope="module")
def fuzz_db(new_database, seed_anchor: datetime):
    url = new_database()
    engine = make_engine(url)
    seed(engine, events=3_000, seed_value=5, anchor=seed_anchor)
    plant_sentinel(engine)
    before = database_fingerprint(engine)
    yield url, engine, before
    engine.dispose()


def run_with_params(app: AppTest, params: dict[str, str]) -> AppTest:
    for k, v in params.items():
        app.query_params[k] = v
    return app.run()


def assert_clean(at: AppTest, engine, before) -> None:
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert not any(t in errors for t in SQL_TROUBLE), errors
    assert database_fingerprint(engine) == before


@FUZZ
@given(start=free_text(), end=free_text())
def test_window_picker_custom_range_from_the_url(app_env, fuzz_db, start, end):
    url, engine, before = fuzz_db
    app_env(url)
    at = run_with_params(
        AppTest.from_string(WINDOW_PROBE, default_timeout=60),
        {"window": "custom", "window_start": start, "window_end": end},
    )
    assert_clean(at, engine, before)
    shown = [m.value for m in at.markdown if str(m.value).startswith("events:")]
    # Either the window was accepted and counted, or the input was refused with a message.
    assert shown or at.error, "neither a result nor a message"


@FUZZ
@given(key=free_text())
def test_window_picker_unknown_preset_from_the_url(app_env, fuzz_db, key):
    url, engine, before = fuzz_db
    app_env(url)
    at = run_with_params(AppTest.from_string(WINDOW_PROBE, default_timeout=60), {"window": key})
    assert_clean(at, engine, before)


# Every free-text value a page reads from its URL (text inputs bound to the URL,
# and pickers that accept a value from a shared link), with the fixed
# parameters that open the view holding them.
PAGE_INPUTS: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
    ("trends", ("method", "code", "institution", "triage"), {"window": "7d"}),
    ("health", ("institution", "code", "user"), {"view": "Items", "window": "7d"}),
    ("health", ("item",), {}),
    ("investigate", ("q",), {}),
    ("investigate", ("code", "method", "institution", "triage"), {"q": "ins_109508"}),
    ("investigate", ("event", "kind"), {}),
    ("admin", ("institution", "code", "items", "health"), {}),
]


def _open(app_env, url: str, page: str, params: dict[str, str]) -> AppTest:
    app_env(url, DASHBOARD_LOCAL_ADMIN="1")
    return run_with_params(AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60), params)


def _ids(v: object) -> str | None:
    return v if isinstance(v, str) else None


@pytest.mark.parametrize(("page", "keys", "fixed"), PAGE_INPUTS, ids=_ids)
@FUZZ
@given(data=st.data())
def test_page_free_text_from_the_url(app_env, fuzz_db, page, keys, fixed, data):
    url, engine, before = fuzz_db
    params = {**fixed, **{k: data.draw(free_text(), label=k) for k in keys}}
    assert_clean(_open(app_env, url, page, params), engine, before)


def _payload_cases() -> list:
    cases = []
    for page, keys, fixed in PAGE_INPUTS:
        for i, payload in enumerate(INJECTIONS):
            params = {**fixed, **dict.fromkeys(keys, payload)}
            cases.append(pytest.param(page, params, id=f"{page}-{'+'.join(keys)}-{i}"))
    return cases


@pytest.mark.parametrize(("page", "params"), _payload_cases())
def test_page_known_payloads_from_the_url(app_env, fuzz_db, page, params):
    """Every injection and markup payload in every field of a view, deterministically."""
    url, engine, before = fuzz_db
    assert_clean(_open(app_env, url, page, params), engine, before)
