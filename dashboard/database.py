"""Engine creation and the one read path every page query goes through.

Reads run in a read-only transaction with a statement timeout, so a heavy
window can never lock or overload the production database the dashboard
reads. Failures are turned into DatabaseError subclasses that carry a message
written for the person at the screen (no SQL, no URL, no parameters).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from dashboard.config import Settings, load_settings

_log = logging.getLogger(__name__)

# Every page query must be bounded: the rule is enforced here rather than
# trusted to each caller.
_LIMIT_PARAM = re.compile(r"\bLIMIT\s+:row_limit\b", re.IGNORECASE)


class DatabaseError(Exception):
    """A database problem, described for the person using the dashboard."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class DatabaseUnavailable(DatabaseError):
    pass


class QueryTimeout(DatabaseError):
    pass


class UnsearchableInput(DatabaseError):
    """A value PostgreSQL cannot take as a parameter (a NUL character)."""


def resolve_database_url(settings: Settings | None = None) -> str:
    """DATABASE_URL when set; otherwise start (or join) the embedded server."""
    settings = settings or load_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    from dashboard.embedded_db import start_embedded

    return start_embedded(settings.embedded_data_dir)


def normalise_url(url: str) -> str:
    """Accept the URL forms people paste (postgres://, postgresql://) and use psycopg2."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """A label for the sidebar: host and database, never the password."""
    parsed = make_url(url)
    host = parsed.host or parsed.query.get("host") or "local socket"
    if isinstance(host, tuple):
        host = host[0]
    if str(host).startswith("/"):
        host = "local socket"
    port = f":{parsed.port}" if parsed.port and not str(host) == "local socket" else ""
    return f"{parsed.database or 'postgres'} on {host}{port} as {parsed.username or 'default user'}"


def make_engine(url: str, *, application_name: str = "plaid-ops-dashboard") -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,  # lets a page recover after the database comes back
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": 5, "application_name": application_name},
    )


def translate_error(exc: Exception) -> DatabaseError:
    """Map a driver error to a message for the screen; log the detail server-side."""
    orig = getattr(exc, "orig", None)
    pgcode = getattr(orig, "pgcode", None)
    if pgcode == "57014":  # query_canceled: our statement_timeout fired
        return QueryTimeout(
            "The query took longer than the dashboard allows and was stopped. "
            "Try a shorter time window or narrower filters."
        )
    if isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        _log.warning("database unavailable: %s", type(orig or exc).__name__)
        return DatabaseUnavailable(
            "The database is not reachable right now. Check that PostgreSQL is running "
            "(or that DATABASE_URL points at it), then retry; no restart is needed."
        )
    _log.error("database query failed: %s (pgcode %s)", type(orig or exc).__name__, pgcode)
    return DatabaseError("The database rejected the query. The details are in the server log.")


@contextmanager
def read_only(engine: Engine, *, timeout_ms: int | None = None) -> Iterator[Connection]:
    """A read-only transaction with a statement timeout; rolled back at the end."""
    timeout_ms = timeout_ms or load_settings().statement_timeout_ms
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.execute(
                text("SELECT set_config('statement_timeout', :t, true)"), {"t": str(int(timeout_ms))}
            )
            try:
                yield conn
            finally:
                conn.rollback()
    except DBAPIError as exc:
        raise translate_error(exc) from None


def _check_bounded(sql: str, params: Mapping[str, Any]) -> None:
    if not _LIMIT_PARAM.search(sql) or "row_limit" not in params:
        raise ValueError("page queries must end in LIMIT :row_limit and pass row_limit")
    # psycopg2 refuses NUL with a plain ValueError (not a DBAPIError), so text
    # typed or pasted into any filter is checked here, once, for every page.
    for value in params.values():
        values = value if isinstance(value, (list, tuple)) else (value,)
        if any(isinstance(v, str) and "\x00" in v for v in values):
            raise UnsearchableInput(
                "The text you entered contains a NUL character, which cannot be searched for. "
                "Remove it (it often comes from copying binary data) and try again."
            )


def read_frame(
    engine: Engine, sql: str, params: Mapping[str, Any], *, timeout_ms: int | None = None
) -> pd.DataFrame:
    """Run one bounded, parameterised read and return it as a DataFrame."""
    _check_bounded(sql, params)
    with read_only(engine, timeout_ms=timeout_ms) as conn:
        try:
            result = conn.execute(text(sql), dict(params))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        except DBAPIError as exc:
            raise translate_error(exc) from None


def read_rows(
    engine: Engine, sql: str, params: Mapping[str, Any], *, timeout_ms: int | None = None
) -> list[dict[str, Any]]:
    """Like read_frame, as a list of dicts (for small lookups)."""
    _check_bounded(sql, params)
    with read_only(engine, timeout_ms=timeout_ms) as conn:
        try:
            return [dict(r._mapping) for r in conn.execute(text(sql), dict(params))]
        except DBAPIError as exc:
            raise translate_error(exc) from None
