"""Test fixtures: a real embedded PostgreSQL server, started once per session.

Each test that needs a database gets its own, cloned from a template that
already has the full schema (CREATE DATABASE … TEMPLATE is fast), so tests
never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from dashboard.database import make_engine
from dashboard.embedded_db import start_embedded
from dashboard.schema import init_db

_counter = itertools.count()
SEED_EVENTS = 60_000


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of the session's embedded server (database `postgres`)."""
    return start_embedded(tmp_path_factory.mktemp("pg") / "data")


def _admin(pg_url: str) -> Engine:
    return create_engine(pg_url, isolation_level="AUTOCOMMIT")


def create_database(pg_url: str, name: str, template: str = "template0") -> str:
    with _admin(pg_url).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def schema_template(pg_url: str) -> str:
    """A database holding the full schema and nothing else, used as a template."""
    url = create_database(pg_url, "tpl_schema")
    engine = make_engine(url)
    init_db(engine)
    engine.dispose()
    return "tpl_schema"


@pytest.fixture(scope="session")
def new_database(pg_url: str, schema_template: str):
    """Factory: a fresh database with the full schema; returns its URL."""

    def make(template: str | None = None) -> str:
        return create_database(pg_url, f"t{next(_counter)}_{os.getpid()}", template or schema_template)

    return make


@pytest.fixture()
def db_url(new_database) -> str:
    return new_database()


@pytest.fixture()
def db(db_url: str) -> Iterator[Engine]:
    """An engine on a fresh, empty database with Pattern's and the dashboard's schema."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def seed_anchor() -> datetime:
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


@pytest.fixture(scope="session")
def seeded_url(pg_url: str, schema_template: str, seed_anchor: datetime) -> str:
    """A database with demo data anchored at the current hour (read-only by convention)."""
    from dashboard.seed import seed

    url = create_database(pg_url, "seeded", schema_template)
    engine = make_engine(url)
    seed(engine, events=SEED_EVENTS, seed_value=7, anchor=seed_anchor)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def seeded(seeded_url: str) -> Iterator[Engine]:
    engine = make_engine(seeded_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def app_env(monkeypatch: pytest.MonkeyPatch):
    """Point pages at a given database URL and start each test with cold caches."""
    import streamlit as st

    def use(url: str, **extra: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        for k, v in extra.items():
            monkeypatch.setenv(k, v)
        st.cache_data.clear()
        st.cache_resource.clear()

    yield use
    st.cache_data.clear()
    st.cache_resource.clear()
