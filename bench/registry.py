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

from dashboard.database import read_frame
from dashboard.rollups import API_EVENTS_SQL, API_ITEM_ERRORS_SQL, LINK_EVENTS_SQL, maybe_refresh, rollup_params
from dashboard.timewindow import TimeWindow

QueryFn = Callable[[Engine, TimeWindow], Any]


@dataclass(frozen=True)
class BenchQuery:
    name: str  # "<page>: <what it shows>"
    page: str
    fn: QueryFn


# --- Reference queries over the rollups (used until the pages register theirs) --

def _errors_by_code(engine: Engine, window: TimeWindow) -> pd.DataFrame:
    maybe_refresh(engine)
    return read_frame(
        engine,
        f"""
        WITH codes AS (
          SELECT error_type, error_code, sum(n) AS errors, min(first_at) AS first_seen, max(last_at) AS last_seen
          FROM ({API_EVENTS_SQL}) e WHERE error_code IS NOT NULL GROUP BY 1, 2),
        items AS (
          SELECT error_code, count(DISTINCT item_id) AS items FROM ({API_ITEM_ERRORS_SQL}) e GROUP BY 1)
        SELECT c.*, coalesce(i.items, 0) AS items FROM codes c LEFT JOIN items i USING (error_code)
        ORDER BY errors DESC, error_code LIMIT :row_limit
        """,
        {**rollup_params(window.start, window.end, engine), "row_limit": 500},
    )


def _error_rate_series(engine: Engine, window: TimeWindow) -> pd.DataFrame:
    maybe_refresh(engine)
    return read_frame(
        engine,
        f"""
        SELECT date_bin(CAST(:bucket AS interval), created_at, CAST(:origin AS timestamptz)) AS bucket,
               sum(n) AS calls, sum(n) FILTER (WHERE error_code IS NOT NULL) AS errors
        FROM ({API_EVENTS_SQL}) e GROUP BY 1 ORDER BY 1 LIMIT :row_limit
        """,
        {**rollup_params(window.start, window.end, engine, bucket=window.bucket), "bucket": window.bucket,
         "origin": window.start.replace(minute=0), "row_limit": 1000},
    )


def _link_exits(engine: Engine, window: TimeWindow) -> pd.DataFrame:
    maybe_refresh(engine)
    return read_frame(
        engine,
        f"""
        SELECT type, status, error_code, sum(n) AS events FROM ({LINK_EVENTS_SQL}) e
        GROUP BY 1, 2, 3 ORDER BY events DESC LIMIT :row_limit
        """,
        {**rollup_params(window.start, window.end, engine), "row_limit": 500},
    )


REFERENCE: tuple[BenchQuery, ...] = (
    BenchQuery("reference: API errors by code", "reference", _errors_by_code),
    BenchQuery("reference: error rate series", "reference", _error_rate_series),
    BenchQuery("reference: Link exits", "reference", _link_exits),
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
    return REFERENCE


# Registered query name -> naive function computing the same figure.
NAIVE: dict[str, QueryFn] = {"reference: API errors by code": naive_errors_by_code}
