"""Incremental hourly rollups of the event tables, and the SQL to read them.

Tens of millions of event rows cannot be re-aggregated on every page view.
`refresh_rollups` adds the rows written since the last refresh (by id, from a
watermark per table) to hourly count tables (db/init/170_dashboard_rollups.sql),
so each row is aggregated exactly once, including a late row whose created_at
is hours old: it lands in the hour it belongs to.

Page queries read the rollup for the whole hours inside their window and the
raw table for the rest, so the figures are exactly what a query over the raw
table returns:

- the partial hours at the window's two ends (windows end on the minute),
- rows above the watermark (written since the last refresh),
- rows whose ids were skipped when the watermark moved (a transaction was
  still writing them) and that have appeared since.

`API_EVENTS_SQL`, `API_ITEM_ERRORS_SQL` and `LINK_EVENTS_SQL` are those
unions; use them as a subquery with `rollup_params(start, end, engine)` and sum `n`
where a raw query would count(*) (call `maybe_refresh(engine)` first). Institutions are resolved through
items_table when a row is aggregated; an item deleted afterwards keeps its
institution in the rollup (the raw join would give NULL).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from dashboard.config import load_settings

_log = logging.getLogger(__name__)

# Ids this close below the new watermark that are missing are remembered as
# gaps (an insert still in flight); older missing ids are burnt sequence values.
GAP_SPAN = 10_000
GAP_TTL = timedelta(hours=1)
# A page-triggered refresh aggregates at most this many ids, so it stays short;
# the rest is read from the raw table (exact, only slower) until the next one.
PAGE_REFRESH_BATCH = 1_000_000
PAGE_REFRESH_INTERVAL_S = 60.0
ANALYZE_AFTER_ROWS = 50_000
# Bumped whenever the rollup tables or what goes into them change: a database
# rolled up by another version is rebuilt on its next refresh.
ROLLUP_VERSION = 3
_VERSION_ROW = "__rollup_version__"
_LOCK_KEY = 7_170_001
MAX_SPLITS = 2_000  # pg advisory lock: one refresh at a time per database


@dataclass(frozen=True)
class _Source:
    table: str
    columns: str  # the new rows, as `new`
    inserts: tuple[str, ...]  # data-modifying CTEs over `new`


_API = _Source(
    table="plaid_api_events_table",
    columns=(
        "e.id, e.item_id, e.plaid_method, e.error_type, e.error_code, e.created_at, "
        "date_trunc('hour', e.created_at, 'UTC') AS hour, i.plaid_institution_id "
        "FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id"
    ),
    inserts=(
        """INSERT INTO dashboard_api_hourly AS h
             (hour, plaid_method, error_type, error_code, plaid_institution_id, calls, first_at, last_at)
           SELECT hour, plaid_method, error_type, error_code, plaid_institution_id,
                  count(*), min(created_at), max(created_at)
           FROM new WHERE created_at IS NOT NULL
           GROUP BY hour, plaid_method, error_type, error_code, plaid_institution_id
           ON CONFLICT (hour, plaid_method, error_type, error_code, plaid_institution_id) DO UPDATE
           SET calls = h.calls + EXCLUDED.calls, first_at = least(h.first_at, EXCLUDED.first_at),
               last_at = greatest(h.last_at, EXCLUDED.last_at)""",
        """INSERT INTO dashboard_api_daily AS h
             (day, plaid_method, error_type, error_code, plaid_institution_id, calls, first_at, last_at)
           SELECT date_trunc('day', created_at, 'UTC'), plaid_method, error_type, error_code, plaid_institution_id,
                  count(*), min(created_at), max(created_at)
           FROM new WHERE created_at IS NOT NULL
           GROUP BY 1, plaid_method, error_type, error_code, plaid_institution_id
           ON CONFLICT (day, plaid_method, error_type, error_code, plaid_institution_id) DO UPDATE
           SET calls = h.calls + EXCLUDED.calls, first_at = least(h.first_at, EXCLUDED.first_at),
               last_at = greatest(h.last_at, EXCLUDED.last_at)""",
        """INSERT INTO dashboard_api_item_hourly AS h
             (hour, item_id, plaid_method, error_type, error_code, plaid_institution_id, errors, first_at, last_at)
           SELECT hour, item_id, plaid_method, error_type, error_code, plaid_institution_id,
                  count(*), min(created_at), max(created_at)
           FROM new WHERE created_at IS NOT NULL AND item_id IS NOT NULL AND error_code IS NOT NULL
           GROUP BY hour, item_id, plaid_method, error_type, error_code, plaid_institution_id
           ON CONFLICT (hour, item_id, plaid_method, error_type, error_code, plaid_institution_id) DO UPDATE
           SET errors = h.errors + EXCLUDED.errors, first_at = least(h.first_at, EXCLUDED.first_at),
               last_at = greatest(h.last_at, EXCLUDED.last_at)""",
    ),
)

_LINK = _Source(
    table="link_events_table",
    columns=(
        "e.id, e.type, e.error_type, e.error_code, e.status, e.created_at, e.link_session_id, "
        "date_trunc('hour', e.created_at, 'UTC') AS hour FROM link_events_table e"
    ),
    inserts=(
        """INSERT INTO dashboard_link_hourly AS h
             (hour, type, error_type, error_code, status, events, first_at, last_at)
           SELECT hour, type, error_type, error_code, status, count(*), min(created_at), max(created_at)
           FROM new WHERE created_at IS NOT NULL
           GROUP BY hour, type, error_type, error_code, status
           ON CONFLICT (hour, type, error_type, error_code, status) DO UPDATE
           SET events = h.events + EXCLUDED.events, first_at = least(h.first_at, EXCLUDED.first_at),
               last_at = greatest(h.last_at, EXCLUDED.last_at)""",
        """INSERT INTO dashboard_link_multi_sessions (link_session_id)
           SELECT DISTINCT n.link_session_id FROM new n
           WHERE n.link_session_id IS NOT NULL AND EXISTS (
             SELECT 1 FROM link_events_table o WHERE o.link_session_id = n.link_session_id AND o.id <> n.id)
           ON CONFLICT DO NOTHING""",
    ),
)

SOURCES: tuple[_Source, ...] = (_API, _LINK)
ROLLUP_TABLES = (
    "dashboard_api_hourly", "dashboard_api_daily", "dashboard_api_item_hourly", "dashboard_link_hourly",
    "dashboard_link_multi_sessions",
)


@dataclass(frozen=True)
class RefreshResult:
    ran: bool  # False when another refresh held the lock
    rows: dict[str, int]  # source table -> rows aggregated now
    watermarks: dict[str, int]


def _refresh_source(conn: Any, src: _Source, max_rows: int | None) -> tuple[int, int]:
    conn.execute(
        text("INSERT INTO dashboard_rollup_watermarks (source) VALUES (:s) ON CONFLICT DO NOTHING"),
        {"s": src.table},
    )
    lo = conn.execute(
        text("SELECT last_id FROM dashboard_rollup_watermarks WHERE source = :s"), {"s": src.table}
    ).scalar_one()
    top = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {src.table}")).scalar_one()
    hi = max(lo, min(top, lo + max_rows) if max_rows else top)
    ctes = ",\n".join(f"ins{n} AS ({sql})" for n, sql in enumerate(src.inserts))
    # Two branches rather than an OR, so both stay index scans.
    new_rows = conn.execute(
        text(
            f"""
            WITH new AS MATERIALIZED (
              SELECT {src.columns} WHERE e.id > :lo AND e.id <= :hi
              UNION ALL
              SELECT {src.columns} JOIN dashboard_rollup_gaps g ON g.source = :s AND g.id = e.id
            ),
            {ctes}
            SELECT count(*) FROM new
            """
        ),
        {"lo": lo, "hi": hi, "s": src.table},
    ).scalar_one()
    # The gaps just aggregated are no longer gaps (same snapshot as above),
    # and long-missing ids were never coming.
    conn.execute(
        text(
            f"DELETE FROM dashboard_rollup_gaps g WHERE g.source = :s AND "
            f"(EXISTS (SELECT 1 FROM {src.table} e WHERE e.id = g.id) OR g.noted_at < now() - :ttl)"
        ),
        {"s": src.table, "ttl": GAP_TTL},
    )
    if hi > lo:
        conn.execute(
            text(
                f"INSERT INTO dashboard_rollup_gaps (source, id) "
                f"SELECT :s, g FROM generate_series(CAST(:from_id AS bigint), :hi) g "
                f"WHERE NOT EXISTS (SELECT 1 FROM {src.table} e WHERE e.id = g) ON CONFLICT DO NOTHING"
            ),
            {"s": src.table, "from_id": max(lo, hi - GAP_SPAN) + 1, "hi": hi},
        )
    conn.execute(
        text(
            "UPDATE dashboard_rollup_watermarks SET last_id = :hi, rows_aggregated = rows_aggregated + :n, "
            "refreshed_at = now() WHERE source = :s"
        ),
        {"hi": hi, "n": new_rows, "s": src.table},
    )
    return new_rows, hi


def refresh_rollups(
    engine: Engine, *, max_rows: int | None = None, wait: bool = False, rebuild: bool = False,
    timeout_ms: int | None = None,
) -> RefreshResult:
    """Aggregate the event rows added since the last refresh into the hourly rollups.

    One refresh runs at a time per database (advisory lock); with wait=False a
    second caller returns at once (ran=False). max_rows caps the ids taken per
    table in this call.
    """
    rows: dict[str, int] = {}
    marks: dict[str, int] = {}
    with engine.connect() as conn:
        # The lock is taken before the snapshot, so a refresh that just
        # committed is always seen by the next one.
        got = conn.execute(
            text(f"SELECT {'pg_advisory_lock' if wait else 'pg_try_advisory_lock'}(:k)"), {"k": _LOCK_KEY}
        ).scalar()
        conn.commit()
        if got is False:
            return RefreshResult(False, {}, {})
        try:
            # One snapshot for the whole refresh: the gap rows aggregated and
            # the gap rows deleted are the same rows.
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if timeout_ms:
                # A refresh before a page query must not outwait the page's own
                # timeout, e.g. behind a migration's lock on the event tables.
                conn.execute(text("SELECT set_config('statement_timeout', :t, true), "
                                  "set_config('lock_timeout', :t, true)"), {"t": str(int(timeout_ms))})
            stored = conn.execute(
                text("SELECT last_id FROM dashboard_rollup_watermarks WHERE source = :v"), {"v": _VERSION_ROW}
            ).scalar()
            has_rows = conn.execute(text("SELECT EXISTS (SELECT 1 FROM dashboard_rollup_watermarks)")).scalar()
            if has_rows and stored != ROLLUP_VERSION:
                _log.warning("rollups were built by another version; rebuilding them")
                rebuild = True
            if rebuild:
                for table in (*ROLLUP_TABLES, "dashboard_rollup_gaps", "dashboard_rollup_watermarks"):
                    conn.execute(text(f"DELETE FROM {table}"))
            for src in SOURCES:
                rows[src.table], marks[src.table] = _refresh_source(conn, src, max_rows)
            conn.execute(
                text("INSERT INTO dashboard_rollup_watermarks (source, last_id) VALUES (:v, :n) "
                     "ON CONFLICT (source) DO UPDATE SET last_id = EXCLUDED.last_id"),
                {"v": _VERSION_ROW, "n": ROLLUP_VERSION},
            )
            conn.commit()
            _remember(engine, marks)
            if sum(rows.values()) >= ANALYZE_AFTER_ROWS:
                # Fresh statistics so the planner knows how big the rollups are.
                for table in ROLLUP_TABLES:
                    conn.execute(text(f"ANALYZE {table}"))
                conn.commit()
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
    return RefreshResult(True, rows, marks)


def rebuild_rollups(engine: Engine) -> RefreshResult:
    """Empty the rollups and aggregate every row again (after a schema change or a restore).

    One transaction: readers keep the old figures until it commits, and no
    committed watermark ever goes down (page queries rely on that).
    """
    return refresh_rollups(engine, wait=True, rebuild=True)


_last_refresh: dict[str, float] = {}
_known_marks: dict[str, dict[str, int]] = {}
_refresh_guard = threading.Lock()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _remember(engine: Engine, marks: Mapping[str, int]) -> None:
    with _refresh_guard:
        _known_marks.setdefault(_key(engine), {}).update(marks)


def known_watermarks(engine: Engine) -> dict[str, int]:
    """The watermarks this process last saw (read once if it has seen none)."""
    with _refresh_guard:
        marks = _known_marks.get(_key(engine))
    if marks is None:
        try:
            with engine.connect() as conn:
                marks = dict(conn.execute(text("SELECT source, last_id FROM dashboard_rollup_watermarks")).all())
        except DBAPIError:
            marks = {}
        _remember(engine, marks)
    return dict(marks)


def maybe_refresh(engine: Engine, *, interval_s: float = PAGE_REFRESH_INTERVAL_S) -> bool:
    """Refresh at most once per interval per database; cheap to call before every page query.

    Never raises: on a read-only replica (or any failure) the page queries
    still return exact figures, reading more raw rows.
    """
    key = _key(engine)
    now = time.monotonic()
    with _refresh_guard:
        if now - _last_refresh.get(key, float("-inf")) < interval_s:
            return False
        _last_refresh[key] = now
    try:
        return refresh_rollups(engine, max_rows=PAGE_REFRESH_BATCH,
                               timeout_ms=load_settings().statement_timeout_ms).ran
    except DBAPIError as exc:
        _log.warning("rollup refresh skipped: %s", type(getattr(exc, "orig", exc)).__name__)
        return False


def _hour_floor(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def rollup_params(
    start: datetime,
    end: datetime,
    engine: Engine | None = None,
    *,
    bucket: timedelta | None = None,
    split: datetime | Sequence[datetime] | None = None,
) -> dict[str, Any]:
    """Bound parameters for the *_SQL fragments: the range (:rollup_start,
    :rollup_end), the whole UTC hours inside it (:rollup_from, :rollup_to) and
    watermark hints. Named apart so callers keep their own :start and :end.

    The hints (watermarks this process has seen; with engine=None, 0) only
    tell the planner that few rows lie above the watermark. Committed
    watermarks never go down, so a hint never exceeds the real one, which the
    query reads itself; the figures do not depend on the hints.

    A caller that groups rows into buckets passes the bucket: rolled-up rows
    carry only their hour, so buckets shorter than an hour (or not whole
    hours) read everything from the raw table. A caller that compares
    created_at with an instant inside the range (a previous window ending at
    :start, or every bucket boundary of buckets counted from :start) passes
    them as split: the hour around each is read raw, the day around it by the hour.
    """
    start_utc, end_utc = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    first = _hour_floor(start_utc)
    if first < start_utc:
        first += timedelta(hours=1)
    last = _hour_floor(end_utc)
    whole_hours = bucket is None or (bucket >= timedelta(hours=1) and bucket % timedelta(hours=1) == timedelta(0))
    if last <= first or not whole_hours:  # no usable hour inside: everything comes from the raw table
        first = last = start_utc
    # Whole UTC days inside the whole hours, for the daily rollup (if buckets are whole days).
    day_first = first.replace(hour=0)
    if day_first < first:
        day_first += timedelta(days=1)
    day_last = last.replace(hour=0)
    whole_days = bucket is None or (bucket >= timedelta(days=1) and bucket % timedelta(days=1) == timedelta(0))
    if day_last <= day_first or not whole_days:
        day_first = day_last = first
    # Splits: the hours they fall strictly inside are read raw, the whole days
    # they fall inside are read by the hour.
    splits = [] if split is None else [split] if isinstance(split, datetime) else list(split)
    if len(splits) > MAX_SPLITS:
        raise ValueError(f"at most {MAX_SPLITS} splits")
    split_hours: set[datetime] = set()
    split_days: set[datetime] = set()
    for instant in splits:
        at = instant.astimezone(timezone.utc)
        hour = _hour_floor(at)
        if first <= hour < last and hour < at:
            split_hours.add(hour)
        day = hour.replace(hour=0)
        if day_first <= day < day_last and day < at:
            split_days.add(day)
    marks = known_watermarks(engine) if engine is not None else {}
    return {
        "rollup_start": start, "rollup_end": end, "rollup_from": first, "rollup_to": last,
        "rollup_day_from": day_first, "rollup_day_to": day_last,
        "rollup_split_hours": sorted(split_hours), "rollup_split_days": sorted(split_days),
        "rollup_api_wm": marks.get(_API.table, 0), "rollup_link_wm": marks.get(_LINK.table, 0),
    }


def _raw_branches(select: str, where: str, wm_source: str, hint: str) -> str:
    """The raw rows a rollup does not hold: window edges, the split hour, rows above the
    watermark, late gap rows."""
    wm = f"(SELECT coalesce(max(last_id), 0) FROM dashboard_rollup_watermarks WHERE source = '{wm_source}')"
    whole = (
        "e.created_at >= :rollup_from AND e.created_at < :rollup_to "
        "AND date_trunc('hour', e.created_at, 'UTC') <> ALL(CAST(:rollup_split_hours AS timestamptz[]))"
    )
    return f"""
      UNION ALL {select} WHERE {where} AND e.created_at >= :rollup_start AND e.created_at < :rollup_from
      UNION ALL {select} WHERE {where} AND e.created_at >= :rollup_to AND e.created_at < :rollup_end
      UNION ALL {select} JOIN unnest(CAST(:rollup_split_hours AS timestamptz[])) sh(hour)
                ON e.created_at >= sh.hour AND e.created_at < sh.hour + interval '1 hour' WHERE {where}
      UNION ALL {select} WHERE {where} AND {whole} AND e.id > :{hint} AND e.id > {wm}
      UNION ALL {select} JOIN dashboard_rollup_gaps g ON g.source = '{wm_source}' AND g.id = e.id
                WHERE {where} AND {whole} AND e.id <= {wm}"""


_API_RAW = (
    "SELECT e.created_at, e.plaid_method, e.error_type, e.error_code, i.plaid_institution_id, "
    "1 AS n, e.created_at AS first_at, e.created_at AS last_at "
    "FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id"
)
# Every Plaid API event in [:rollup_start, :rollup_end): created_at (the day or hour for
# rolled-up rows), plaid_method, error_type, error_code, plaid_institution_id, n (events),
# first_at, last_at.
_API_COLUMNS = "r.plaid_method, r.error_type, r.error_code, r.plaid_institution_id, r.calls AS n, r.first_at, r.last_at"
_NOT_SPLIT_HOUR = "r.hour <> ALL(CAST(:rollup_split_hours AS timestamptz[]))"
API_EVENTS_SQL = f"""
      SELECT r.day AS created_at, {_API_COLUMNS}
      FROM dashboard_api_daily r WHERE r.day >= :rollup_day_from AND r.day < :rollup_day_to
        AND r.day <> ALL(CAST(:rollup_split_days AS timestamptz[]))
      UNION ALL SELECT r.hour, {_API_COLUMNS}
      FROM dashboard_api_hourly r WHERE r.hour >= :rollup_from AND r.hour < :rollup_day_from AND {_NOT_SPLIT_HOUR}
      UNION ALL SELECT r.hour, {_API_COLUMNS}
      FROM dashboard_api_hourly r WHERE r.hour >= :rollup_day_to AND r.hour < :rollup_to AND {_NOT_SPLIT_HOUR}
      UNION ALL SELECT r.hour, {_API_COLUMNS}
      FROM unnest(CAST(:rollup_split_days AS timestamptz[])) sd(day)
      JOIN dashboard_api_hourly r ON r.hour >= sd.day AND r.hour < sd.day + interval '24 hours'
      WHERE {_NOT_SPLIT_HOUR}
      {_raw_branches(_API_RAW, "TRUE", _API.table, "rollup_api_wm")}"""

_ITEM_RAW = (
    "SELECT e.created_at, e.item_id, e.plaid_method, e.error_type, e.error_code, i.plaid_institution_id, "
    "1 AS n, e.created_at AS first_at, e.created_at AS last_at "
    "FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id"
)
# The failed calls with an item in [:rollup_start, :rollup_end): created_at, item_id,
# plaid_method, error_type, error_code, plaid_institution_id, n, first_at, last_at.
API_ITEM_ERRORS_SQL = f"""
      SELECT r.hour AS created_at, r.item_id, r.plaid_method, r.error_type, r.error_code,
             r.plaid_institution_id, r.errors AS n, r.first_at, r.last_at
      FROM dashboard_api_item_hourly r WHERE r.hour >= :rollup_from AND r.hour < :rollup_to
        AND {_NOT_SPLIT_HOUR}
      {_raw_branches(_ITEM_RAW, "e.error_code IS NOT NULL AND e.item_id IS NOT NULL", _API.table,
                     "rollup_api_wm")}"""

_LINK_RAW = (
    "SELECT e.created_at, e.type, e.error_type, e.error_code, e.status, "
    "1 AS n, e.created_at AS first_at, e.created_at AS last_at FROM link_events_table e"
)
# Every Link event in [:rollup_start, :rollup_end): created_at, type, error_type, error_code,
# status, n, first_at, last_at.
LINK_EVENTS_SQL = f"""
      SELECT r.hour AS created_at, r.type, r.error_type, r.error_code, r.status,
             r.events AS n, r.first_at, r.last_at
      FROM dashboard_link_hourly r WHERE r.hour >= :rollup_from AND r.hour < :rollup_to
        AND {_NOT_SPLIT_HOUR}
      {_raw_branches(_LINK_RAW, "TRUE", _LINK.table, "rollup_link_wm")}"""


_LINK_WM = "(SELECT coalesce(max(last_id), 0) FROM dashboard_rollup_watermarks WHERE source = 'link_events_table')"
# The raw rows in [:rollup_start, :rollup_end) of Link sessions that have more
# than one row: created_at, type, error_type, error_code, status, session.
# count(DISTINCT session) FILTER (F) over a group equals the group's rows
# matching F minus, per session here, (its rows matching F) - 1 when >= 1.
# Sessions are the noted ones plus those that rows written since the last
# refresh (or late gap rows) make multi-row.
LINK_MULTI_SESSION_ROWS_SQL = f"""
      SELECT e.created_at, e.type, e.error_type, e.error_code, e.status, e.link_session_id AS session
      FROM link_events_table e
      WHERE e.created_at >= :rollup_start AND e.created_at < :rollup_end
        AND e.link_session_id IN (
          SELECT link_session_id FROM dashboard_link_multi_sessions
          UNION
          SELECT t.link_session_id FROM link_events_table t
          WHERE t.link_session_id IS NOT NULL AND t.id > :rollup_link_wm AND t.id > {_LINK_WM}
            AND EXISTS (SELECT 1 FROM link_events_table o
                        WHERE o.link_session_id = t.link_session_id AND o.id <> t.id)
          UNION
          SELECT t.link_session_id FROM dashboard_rollup_gaps g JOIN link_events_table t ON t.id = g.id
          WHERE g.source = 'link_events_table' AND t.link_session_id IS NOT NULL
            AND EXISTS (SELECT 1 FROM link_events_table o
                        WHERE o.link_session_id = t.link_session_id AND o.id <> t.id))"""


def rollup_status(engine: Engine) -> list[Mapping[str, Any]]:
    """Watermarks and sizes, for the CLI and the benchmark."""
    with engine.connect() as conn:
        marks = [
            dict(r._mapping)
            for r in conn.execute(
                text("SELECT source, last_id, rows_aggregated, refreshed_at FROM dashboard_rollup_watermarks "
                     "ORDER BY source")
            )
        ]
        for table in ROLLUP_TABLES:
            marks.append({"source": table, "rows": conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()})
    return marks
