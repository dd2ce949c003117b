"""Generated input in every free-text field the pages read from the URL: no
exception, no SQL error, no injection (tables, row counts and a sentinel row
are unchanged afterwards).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fuzzing import SQL_TROUBLE, database_fingerprint, free_text, plant_sentinel
from hypothesis import HealthCheck, given, settings
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
