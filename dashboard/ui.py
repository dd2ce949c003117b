"""Shared Streamlit pieces. Every page file starts with `page_setup(...)`.

A fresh Streamlit server may run a page file directly, without app.py
(shared/reference/streamlit.md), so everything a page needs — page config,
sidebar, database connection, access control — happens here, per page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard import page_links
from dashboard.access import AccessDecision, decide_admin_access
from dashboard.config import Settings, load_settings, merged_source
from dashboard.database import DatabaseError, describe_url, make_engine, resolve_database_url, translate_error
from dashboard.timewindow import PRESETS, TimeWindow, WindowError, resolve_window, utc_now

_log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class PageContext:
    engine: Engine
    settings: Settings
    database_label: str
    demo_data: bool
    access: AccessDecision | None = None


@st.cache_resource(show_spinner="Starting the database…")
def _engine_for(url: str) -> Engine:
    return make_engine(url)


@st.cache_resource(show_spinner="Starting the embedded demo database…")
def _embedded_url(data_dir: str) -> str:
    from pathlib import Path

    from dashboard.embedded_db import start_embedded

    return start_embedded(Path(data_dir))


def _database_url(settings: Settings) -> str:
    if settings.uses_embedded_db:
        return _embedded_url(str(settings.embedded_data_dir))
    return resolve_database_url(settings)


def _probe(engine: Engine) -> bool:
    """Check the connection and the schema; returns whether demo data is loaded."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SET LOCAL statement_timeout = 3000"))
            have = conn.execute(
                text(
                    "SELECT to_regclass('plaid_api_events_table') IS NOT NULL, "
                    "to_regclass('dashboard_seed_runs') IS NOT NULL"
                )
            ).one()
            if not have[0]:
                raise DatabaseError(
                    "This database has no Pattern tables. Point DATABASE_URL at your Pattern database, "
                    "or run `python -m dashboard init-db` to create them."
                )
            if not have[1]:
                return False
            return bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM dashboard_seed_runs)")).scalar_one())
    except DatabaseError:
        raise
    except Exception as exc:  # driver errors: translate, never show a traceback
        raise translate_error(exc) from None


def show_error(exc: DatabaseError | Exception) -> None:
    message = exc.user_message if isinstance(exc, DatabaseError) else str(exc)
    st.error(message, icon="⚠️")


def stop_with_error(exc: DatabaseError | Exception, *, retry: bool = True) -> None:
    show_error(exc)
    if retry:
        st.button("Retry", key="_retry_after_error", type="primary")
    st.stop()


NAVIGATION: tuple[tuple[str, str], ...] = (
    (page_links.TRENDS, "📈 Error trends"),
    (page_links.HEALTH, "🩺 Item & institution health"),
    (page_links.INVESTIGATE, "🔎 Investigate"),
    (page_links.ADMIN, "🔐 Admin: Plaid refreshes"),
)


def _render_sidebar(ctx_label: str, settings: Settings, demo_data: bool) -> None:
    with st.sidebar:
        # Plain links rather than st.page_link: they work whether or not
        # app.py registered the pages in this run.
        st.markdown("  \n".join(f"[{label}](/{path})" for path, label in NAVIGATION))
        st.divider()
        st.caption("Environment")
        db_kind = "embedded demo database" if settings.uses_embedded_db else "external database"
        st.markdown(f"**Database:** {ctx_label}  \n*{db_kind}*")
        if settings.plaid_simulated:
            st.markdown("**Plaid:** :orange[Simulated] — offline stand-in, no real Plaid calls")
        else:
            st.markdown(f"**Plaid:** {settings.plaid_env}")
        if demo_data:
            st.info("Showing generated demo data.", icon="🧪")


def _secrets() -> dict[str, Any]:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets.toml at all, or one that does not parse
        return {}


def current_settings() -> Settings:
    """Settings from st.secrets with the environment on top: the sidebar and the Plaid client read the same."""
    return load_settings(merged_source(_secrets()))


def page_setup(title: str, icon: str = "📊", *, admin: bool = False) -> PageContext:
    """Set up a page: config, sidebar, database, and (for admin pages) access.

    Stops the script with a clear message when the page cannot be shown.
    """
    try:
        st.set_page_config(page_title=f"{title} · Plaid Ops", page_icon=icon, layout="wide")
    except st.errors.StreamlitAPIException:
        pass  # already set by app.py in this run
    try:
        settings = current_settings()
    except ValueError as exc:
        stop_with_error(exc, retry=False)
    access = None
    if admin:
        access = admin_access(settings)
        if not access.allowed:
            st.title(title)
            st.error(f"Access denied. {access.reason}", icon="🔒")
            st.stop()
    try:
        url = _database_url(settings)
        engine = _engine_for(url)
        label = describe_url(url)
        demo = _probe(engine)
    except DatabaseError as exc:
        st.title(title)
        stop_with_error(exc)
    except Exception as exc:  # the embedded server failed to start, and the like
        _log.exception("database start-up failed")
        st.title(title)
        stop_with_error(DatabaseError(f"The database could not be started: {type(exc).__name__}. See the server log."))
    _render_sidebar(label, settings, demo)
    return PageContext(engine=engine, settings=settings, database_label=label, demo_data=demo, access=access)


def _auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml at all
        return False


def _current_user() -> dict[str, Any]:
    try:
        return dict(st.user.to_dict())
    except Exception:
        return {}


def admin_access(settings: Settings | None = None) -> AccessDecision:
    return decide_admin_access(
        settings or current_settings(), auth_configured=_auth_configured(), user=_current_user()
    )


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a dashboard query; on a database problem, say so and stop the page."""
    try:
        return fn(*args, **kwargs)
    except DatabaseError as exc:
        stop_with_error(exc)
        raise AssertionError("unreachable") from exc


def window_picker(*, key: str = "window", default: str = "24h") -> TimeWindow:
    """Window selector whose choice lives in the URL (?window=7d&window_start=…&window_end=…).

    The options are the URL keys themselves: with `bind="query-params"` a
    format_func would put the display label into the URL instead of the key.
    """
    options = [*PRESETS, "custom"]
    choice = st.segmented_control(
        "Time window",
        options,
        default=default,
        key=key,
        bind="query-params",
    ) or default
    start = end = None
    if choice == "custom":
        now = utc_now().replace(second=0, microsecond=0, tzinfo=None)
        c1, c2 = st.columns(2)
        start = c1.text_input("Start (UTC, ISO 8601)", value=(now - timedelta(days=1)).isoformat(),
                              key=f"{key}_start", bind="query-params")
        end = c2.text_input("End (UTC, ISO 8601)", value=now.isoformat(), key=f"{key}_end", bind="query-params")
    try:
        return resolve_window(choice, start, end)
    except WindowError as exc:
        st.error(str(exc), icon="⚠️")
        st.stop()
        raise


def empty_state(message: str, hint: str | None = None) -> None:
    st.info(message + (f"\n\n{hint}" if hint else ""), icon="🫙")


def csv_download(df: pd.DataFrame, filename: str, *, label: str = "Download CSV", key: str | None = None) -> None:
    """CSV export of what is on screen; callers pass only already-redacted frames."""
    st.download_button(
        label,
        data=lambda: df.to_csv(index=False).encode("utf-8"),
        file_name=filename,
        mime="text/csv",
        key=key or f"csv_{filename}",
        icon="⬇️",
        # No rerun on download: a rerun drops the other buttons' deferred files,
        # so a second download on the same page failed ("Deferred file not found").
        on_click="ignore",
    )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(value: object) -> str:
    """Escape text from the database before it goes into st.markdown."""
    return _MD_SPECIAL.sub(r"\\\1", str(value))
