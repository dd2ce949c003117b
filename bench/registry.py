"""Every query a page runs, registered for the benchmark.

Entries call the pages' own functions in dashboard/ (imported, never copied),
so the benchmark times exactly what a page view runs. Each takes the engine
and a TimeWindow. `NAIVE` holds the approach a typical Streamlit dashboard
takes for a figure (read the window's raw events into pandas, aggregate
there), keyed by the registered query that produces the same figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_rows
from dashboard.timewindow import TimeWindow

QueryFn = Callable[[Engine, TimeWindow], Any]


@dataclass(frozen=True)
class BenchQuery:
    name: str  # "<page>: <what it shows>"
    page: str
    fn: QueryFn


# --- Error trends (dashboard/trends.py, dashboard/link_analytics.py) ---------------

def _trends_queries() -> tuple[BenchQuery, ...]:
    from dashboard import link_analytics as la
    from dashboard import trends as tr

    none = tr.ApiFilters()
    return (
        BenchQuery("trends: API headline", "trends", lambda e, w: tr.api_headline(e, w, none)),
        BenchQuery("trends: error rate series", "trends", lambda e, w: tr.api_error_rate_series(e, w, none)),
        BenchQuery("trends: errors by code", "trends", lambda e, w: tr.api_breakdown(e, w, none, "error_code")),
        BenchQuery("trends: errors by method", "trends",
                   lambda e, w: tr.api_breakdown(e, w, none, "plaid_method")),
        BenchQuery("trends: errors by institution", "trends",
                   lambda e, w: tr.api_breakdown(e, w, none, "institution")),
        BenchQuery("trends: spikes", "trends", lambda e, w: tr.api_spikes(e, w, none)),
        BenchQuery("trends: filter options", "trends", tr.api_filter_options),
        BenchQuery("trends: Link headline", "trends", la.link_headline),
        BenchQuery("trends: Link conversion series", "trends", la.link_conversion_series),
        BenchQuery("trends: Link exit statuses", "trends", la.link_exit_statuses),
        BenchQuery("trends: Link error codes", "trends", la.link_error_codes),
    )


# --- Item and institution health (dashboard/item_health.py, institution_health.py) --

_sample_items: dict[str, str] = {}


def _sample_item(engine: Engine) -> str:
    """A broken item (the wave's), so its detail page has a history to show."""
    key = engine.url.render_as_string(hide_password=True)
    if key not in _sample_items:
        rows = read_rows(engine, "SELECT plaid_item_id FROM items_table WHERE status = 'bad' ORDER BY id "
                                 "LIMIT :row_limit", {"row_limit": 1})
        _sample_items[key] = rows[0]["plaid_item_id"]
    return _sample_items[key]


def _health_queries() -> tuple[BenchQuery, ...]:
    from dashboard import institution_health as ih
    from dashboard import item_health as it

    return (
        BenchQuery("health: item list", "health", lambda e, w: it.list_items(e, w, demo=True)),
        BenchQuery("health: item detail", "health", lambda e, w: it.item_detail(e, _sample_item(e), w, demo=True)),
        BenchQuery("health: institutions", "health", lambda e, w: ih.institution_health(e, w, demo=True)),
        BenchQuery("health: stale items", "health",
                   lambda e, w: it.stale_items(e, max(1, w.duration.days), now=w.end, demo=True)),
    )


# --- Investigate (dashboard/investigate.py) ------------------------------------------

_samples: dict[tuple[str, str], str] = {}


def _sample(engine: Engine, kind: str) -> str:
    """One real identifier of a kind, looked up once per database."""
    sql = {
        "request_id": "SELECT request_id AS v FROM plaid_api_events_table WHERE request_id IS NOT NULL "
                      "ORDER BY id LIMIT :row_limit",
        "username": "SELECT u.username AS v FROM users_table u JOIN items_table i ON i.user_id = u.id "
                    "WHERE i.status = 'bad' ORDER BY u.id LIMIT :row_limit",
    }[kind]
    key = (engine.url.render_as_string(hide_password=True), kind)
    if key not in _samples:
        _samples[key] = read_rows(engine, sql, {"row_limit": 1})[0]["v"]
    return _samples[key]


def _investigate_queries() -> tuple[BenchQuery, ...]:
    from dashboard import investigate as inv

    def run(request_fn: Callable[[Engine], Any]) -> QueryFn:
        return lambda e, w: inv.run(e, request_fn(e), w, environment="sandbox")

    return (
        BenchQuery("investigate: request id → event and ticket", "investigate",
                   run(lambda e: inv.Request(q=_sample(e, "request_id")))),
        BenchQuery("investigate: item → timeline and ticket", "investigate",
                   run(lambda e: inv.Request(q=_sample_item(e)))),
        BenchQuery("investigate: user → timeline", "investigate",
                   run(lambda e: inv.Request(q=_sample(e, "username")))),
        BenchQuery("investigate: events with a code", "investigate",
                   run(lambda e: inv.Request(code="ITEM_LOGIN_REQUIRED"))),
    )


# --- Admin: Plaid refreshes (dashboard/batches.py, dashboard/audit.py) ----------------

def _admin_queries() -> tuple[BenchQuery, ...]:
    from dashboard import audit, batches

    return (
        BenchQuery("admin: select items by error code", "admin",
                   lambda e, w: batches.select_items(e, batches.BatchCriteria(
                       error_code="ITEM_LOGIN_REQUIRED", institution="ins_109509", window=w))),
        BenchQuery("admin: recent batches", "admin", batches.recent_batches),
        BenchQuery("admin: audit trail", "admin", audit.audit_frame),
    )


# --- The naive approach ----------------------------------------------------------

def naive_errors_by_code(engine: Engine, window: TimeWindow) -> pd.DataFrame:
    """What a typical dashboard does: pull the window's events into pandas, then group."""
    events = pd.read_sql_query(
        "SELECT item_id, plaid_method, error_type, error_code, created_at FROM plaid_api_events_table "
        "WHERE created_at >= %(start)s AND created_at < %(end)s",
        engine, params={"start": window.start, "end": window.end},
    )
    errors = events[events["error_code"].notna()]
    return (
        errors.groupby(["error_type", "error_code"])
        .agg(errors=("created_at", "size"), first_seen=("created_at", "min"), last_seen=("created_at", "max"),
             items=("item_id", "nunique"))
        .reset_index()
        .sort_values(["errors", "error_code"], ascending=[False, True])
    )


def page_queries() -> tuple[BenchQuery, ...]:
    """Every registered page query."""
    return (*_trends_queries(), *_health_queries(), *_investigate_queries(), *_admin_queries())


# Registered query name -> naive function computing the same figure.
NAIVE: dict[str, QueryFn] = {"trends: errors by code": naive_errors_by_code}
