"""Item health: one row per item with its derived health, aggregated in SQL.

The per-item state (last success, last error, consecutive failures since the
last success) is taken as of the window's end from a history of at least
HISTORY days, so a short window still knows an item's recent past. Every
query is bounded by that history and a row limit (dashboard.database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_frame, read_rows
from dashboard.health_rule import HEALTH_ORDER, Health, HealthVerdict, ItemState, derive, sql_case
from dashboard.identifiers import validate_filter
from dashboard.institution_names import NameFetcher, resolve_names
from dashboard.page_links import admin_url
from dashboard.timewindow import TimeWindow, utc_now
from dashboard.triage import classify

HISTORY = timedelta(days=7)
DEFAULT_ROW_LIMIT = 500
_ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

ITEM_COLUMNS = [
    "item_id",
    "plaid_item_id",
    "status",
    "health",
    "last_success_at",
    "last_error_code",
    "last_error_class",
    "last_error_at",
    "consecutive_failures",
    "window_errors",
    "window_calls",
    "plaid_institution_id",
    "institution",
    "user_id",
    "username",
]


def who_acts(code: object, etype: object) -> str | None:
    """Triage label of an error; None for a success (pandas may hand NULLs over as NaN)."""
    code_s = code if isinstance(code, str) and code else None
    type_s = etype if isinstance(etype, str) and etype else None
    return classify(code_s, type_s).label if (code_s or type_s) else None


def _with_names(engine: Engine, frame: pd.DataFrame, fetch: NameFetcher | None, demo: bool) -> pd.DataFrame:
    """Add the institution's display name next to its id (the rows are already limited)."""
    names = resolve_names(engine, frame["plaid_institution_id"], fetch, demo=demo) if len(frame) else {}
    frame.insert(frame.columns.get_loc("plaid_institution_id") + 1, "institution",
                 [names.get(i, i) for i in frame["plaid_institution_id"]])
    return frame


def history_start(window: TimeWindow) -> datetime:
    return min(window.start, window.end - HISTORY)


def _health_rank_sql(col: str) -> str:
    whens = " ".join(f"WHEN '{h.value}' THEN {n}" for n, h in enumerate(HEALTH_ORDER))
    return f"CASE {col} {whens} ELSE {len(HEALTH_ORDER)} END"


def _state_sql(*, one_item: bool = False) -> tuple[str, dict[str, Any]]:
    """CTEs ending in `state`: one row per item with its derived health.

    Callers bind :hist_start, :start, :end and :error_code (NULL for none);
    with one_item, also :plaid_item_id.
    """
    item_filter = (
        "AND e.item_id = (SELECT id FROM items_table WHERE plaid_item_id = :plaid_item_id)" if one_item else ""
    )
    items_filter = "WHERE i.plaid_item_id = :plaid_item_id" if one_item else ""
    joins, case, params = sql_case(
        status="i.status",
        consecutive_failures="a.consecutive_failures",
        last_error_code="le.error_code",
        last_error_type="le.error_type",
        failing_since="a.failing_since",
    )
    # Pattern stores NULL error fields on success, so success = error_code IS NULL.
    sql = f"""
    WITH ev AS (
      SELECT e.id, e.item_id, e.created_at, e.error_code, e.error_type
      FROM plaid_api_events_table e
      WHERE e.item_id IS NOT NULL AND e.created_at >= :hist_start AND e.created_at < :end {item_filter}
    ),
    last_ok AS (
      SELECT item_id, max(created_at) AS last_success_at FROM ev WHERE error_code IS NULL GROUP BY item_id
    ),
    last_err AS (
      SELECT DISTINCT ON (item_id) item_id, error_code, error_type, created_at AS last_error_at
      FROM ev WHERE error_code IS NOT NULL ORDER BY item_id, created_at DESC, id DESC
    ),
    agg AS (
      SELECT ev.item_id,
             count(*) FILTER (WHERE ev.error_code IS NOT NULL
                              AND (ok.last_success_at IS NULL OR ev.created_at > ok.last_success_at))
               AS consecutive_failures,
             min(ev.created_at) FILTER (WHERE ev.error_code IS NOT NULL
                              AND (ok.last_success_at IS NULL OR ev.created_at > ok.last_success_at))
               AS failing_since,
             count(*) FILTER (WHERE ev.created_at >= :start) AS window_calls,
             count(*) FILTER (WHERE ev.error_code IS NOT NULL AND ev.created_at >= :start) AS window_errors,
             count(*) FILTER (WHERE ev.error_code = CAST(:error_code AS text) AND ev.created_at >= :start)
               AS code_errors
      FROM ev LEFT JOIN last_ok ok ON ok.item_id = ev.item_id
      GROUP BY ev.item_id
    ),
    state AS (
      SELECT i.id AS item_id, i.plaid_item_id, i.status, i.plaid_institution_id, i.user_id, u.username,
             i.created_at, ok.last_success_at,
             le.error_code AS last_error_code, le.error_type AS last_error_type, le.last_error_at,
             coalesce(a.consecutive_failures, 0) AS consecutive_failures, a.failing_since,
             coalesce(a.window_calls, 0) AS window_calls, coalesce(a.window_errors, 0) AS window_errors,
             coalesce(a.code_errors, 0) AS code_errors,
             {case} AS health
      FROM items_table i
      LEFT JOIN users_table u ON u.id = i.user_id
      LEFT JOIN last_ok ok ON ok.item_id = i.id
      LEFT JOIN last_err le ON le.item_id = i.id
      LEFT JOIN agg a ON a.item_id = i.id
      {joins}
      {items_filter}
    )
    """
    return sql, params


_FILTERS = """
    (CAST(:status AS text) IS NULL OR s.status = :status)
    AND (CAST(:institution AS text) IS NULL OR s.plaid_institution_id = :institution)
    AND (CAST(:error_code AS text) IS NULL OR s.code_errors > 0 OR s.last_error_code = :error_code)
    AND (CAST(:user AS text) IS NULL OR CAST(s.user_id AS text) = :user OR s.username = :user)
"""


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


@dataclass(frozen=True)
class ItemList:
    items: pd.DataFrame
    counts: dict[Health, int]  # every matching item by health (the health filter aside)
    total: int
    truncated: bool
    window: TimeWindow
    filters: dict[str, str | None] = field(default_factory=dict)

    def headline(self) -> list[str]:
        """Sentences for the top of the page, worst first."""
        lines = []
        for h in HEALTH_ORDER:
            n = self.counts.get(h, 0)
            if h is Health.HEALTHY or not n:
                continue
            if h is Health.NEEDS_USER:
                lines.append(f"{n} item{'s' if n != 1 else ''} need{'s' if n == 1 else ''} the user to re-link")
            else:
                lines.append(f"{n} item{'s' if n != 1 else ''} {h.value}")
        return lines


def _params(window: TimeWindow, **extra: Any) -> dict[str, Any]:
    return {"hist_start": history_start(window), **window.params(), **extra}


def list_items(
    engine: Engine,
    window: TimeWindow,
    *,
    status: str | None = None,
    health: Health | str | None = None,
    institution: str | None = None,
    error_code: str | None = None,
    user: str | int | None = None,
    row_limit: int = DEFAULT_ROW_LIMIT,
    fetch: NameFetcher | None = None,
    demo: bool = False,
) -> ItemList:
    """Items with their derived health, worst first, and counts per health."""
    health_value = Health(health).value if health else None
    status = _clean(status)
    if status is not None and status not in ("good", "bad"):
        raise ValueError(f"Unknown status {status!r}; choose good or bad")
    filters = {
        "status": status,
        "institution": validate_filter("institution", institution),
        "error_code": validate_filter("error_code", error_code),
        "user": validate_filter("user", user),
    }
    state_sql, rule_params = _state_sql()
    params = {**_params(window, **filters), **rule_params}
    rows_sql = f"""{state_sql}
    SELECT s.item_id, s.plaid_item_id, s.status, s.health, s.last_success_at,
           s.last_error_code, s.last_error_type, s.last_error_at, s.consecutive_failures,
           s.window_errors, s.window_calls, s.plaid_institution_id, s.user_id, s.username
    FROM state s
    WHERE {_FILTERS} AND (CAST(:health AS text) IS NULL OR s.health = :health)
    ORDER BY {_health_rank_sql('s.health')}, s.consecutive_failures DESC, s.window_errors DESC, s.item_id
    LIMIT :row_limit
    """
    frame = read_frame(engine, rows_sql, {**params, "health": health_value, "row_limit": row_limit + 1})
    truncated = len(frame) > row_limit
    frame = frame.head(row_limit)
    frame.insert(
        frame.columns.get_loc("last_error_at"),
        "last_error_class",
        [who_acts(c, t) for c, t in zip(frame["last_error_code"], frame["last_error_type"], strict=True)],
    )
    frame = _with_names(engine, frame, fetch, demo)
    frame = frame.drop(columns=["last_error_type"])[ITEM_COLUMNS] if len(frame) else pd.DataFrame(
        columns=ITEM_COLUMNS)
    counts_sql = f"""{state_sql}
    SELECT s.health, count(*) AS n FROM state s WHERE {_FILTERS}
    GROUP BY s.health ORDER BY s.health LIMIT :row_limit
    """
    counted = read_rows(engine, counts_sql, {**params, "row_limit": len(Health) + 1})
    counts = {Health(r["health"]): int(r["n"]) for r in counted}
    return ItemList(frame, counts, sum(counts.values()), truncated, window, {**filters, "health": health_value})


def item_ids_by_health(engine: Engine, window: TimeWindow, health: Health | str, *, row_limit: int) -> list[int]:
    """Internal ids of the items whose derived health is `health` (for batch actions)."""
    state_sql, rule_params = _state_sql()
    sql = f"""{state_sql}
    SELECT s.item_id FROM state s WHERE s.health = :health ORDER BY s.item_id LIMIT :row_limit
    """
    params = {**_params(window, error_code=None), **rule_params, "health": Health(health).value,
              "row_limit": row_limit}
    return [int(r["item_id"]) for r in read_rows(engine, sql, params)]


# ---------------------------------------------------------------- item detail


class InvalidItemId(ValueError):
    """The text given as a plaid_item_id cannot be one."""


def validate_item_id(value: str) -> str:
    value = (value or "").strip()
    if not _ITEM_ID.match(value):
        raise InvalidItemId(
            "That is not a Plaid item id: expected letters, digits, '-' or '_' (up to 100 characters)."
        )
    return value


@dataclass(frozen=True)
class ItemDetail:
    identity: dict[str, Any]  # never the access token
    state: ItemState
    verdict: HealthVerdict
    accounts: pd.DataFrame
    timeline: pd.DataFrame
    streaks: pd.DataFrame
    window: TimeWindow


def item_detail(
    engine: Engine,
    plaid_item_id: str,
    window: TimeWindow,
    row_limit: int = DEFAULT_ROW_LIMIT,
    *,
    fetch: NameFetcher | None = None,
    demo: bool = False,
) -> ItemDetail | None:
    """Everything about one item; None when no item has this id. Raises InvalidItemId on bad input."""
    plaid_item_id = validate_item_id(plaid_item_id)
    state_sql, rule_params = _state_sql(one_item=True)
    base = {**_params(window, error_code=None, plaid_item_id=plaid_item_id), **rule_params}
    rows = read_rows(
        engine,
        f"""{state_sql}
        SELECT s.item_id, s.plaid_item_id, s.plaid_institution_id, s.user_id, s.username, s.created_at,
               s.status, s.health, s.last_success_at, s.last_error_code, s.last_error_type, s.last_error_at,
               s.consecutive_failures, s.failing_since, s.window_calls, s.window_errors
        FROM state s LIMIT :row_limit""",
        {**base, "row_limit": 1},
    )
    if not rows:
        return None
    row = rows[0]
    state = ItemState(
        status=row["status"],
        last_success_at=row["last_success_at"],
        last_error_code=row["last_error_code"],
        last_error_type=row["last_error_type"],
        last_error_at=row["last_error_at"],
        consecutive_failures=int(row["consecutive_failures"]),
        failing_since=row["failing_since"],
    )
    verdict = derive(state, window.end)
    identity = {k: row[k] for k in ("item_id", "plaid_item_id", "plaid_institution_id", "user_id", "username",
                                    "created_at", "status")}
    identity.update(window_calls=int(row["window_calls"]), window_errors=int(row["window_errors"]))
    identity["institution_name"] = resolve_names(engine, [row["plaid_institution_id"]], fetch, demo=demo)[
        row["plaid_institution_id"]]
    ids = {"item": row["item_id"], "user": row["user_id"], **window.params(), "row_limit": row_limit}
    accounts = read_frame(
        engine,
        """SELECT name, mask, official_name, type, subtype, current_balance, available_balance,
                  iso_currency_code, updated_at
           FROM accounts_table WHERE item_id = :item ORDER BY name, id LIMIT :row_limit""",
        ids,
    )
    timeline = read_frame(
        engine,
        """SELECT * FROM (
             SELECT e.created_at AS at, 'api' AS source, e.plaid_method AS event, e.error_type, e.error_code,
                    e.request_id, NULL AS link_session_id, NULL AS link_status, e.id AS event_id
             FROM plaid_api_events_table e
             WHERE e.item_id = :item AND e.created_at >= :start AND e.created_at < :end
             UNION ALL
             SELECT l.created_at, 'link', 'link ' || l.type, l.error_type, l.error_code,
                    l.request_id, l.link_session_id, l.status, l.id
             FROM link_events_table l
             WHERE l.user_id = :user AND l.created_at >= :start AND l.created_at < :end
           ) t ORDER BY at DESC, source, event_id DESC LIMIT :row_limit""",
        ids,
    )
    timeline["who_acts"] = [
        who_acts(c, t) for c, t in zip(timeline.get("error_code", []), timeline.get("error_type", []), strict=True)
    ]
    # Gaps and islands: a streak is a run of failed calls with no success between them.
    streaks = read_frame(
        engine,
        """WITH ev AS (
             SELECT created_at, error_code, error_code IS NOT NULL AS failed,
                    row_number() OVER (ORDER BY created_at, id)
                    - row_number() OVER (PARTITION BY error_code IS NOT NULL ORDER BY created_at, id) AS island
             FROM plaid_api_events_table
             WHERE item_id = :item AND created_at >= :start AND created_at < :end
           )
           SELECT min(created_at) AS started, max(created_at) AS last_failure, count(*) AS failures,
                  string_agg(DISTINCT error_code, ', ') AS codes
           FROM ev WHERE failed GROUP BY island ORDER BY started DESC LIMIT :row_limit""",
        ids,
    )
    return ItemDetail(identity, state, verdict, accounts, timeline, streaks, window)


# ---------------------------------------------------------------- stale items

MAX_STALE_DAYS = 365


@dataclass(frozen=True)
class StaleItems:
    items: pd.DataFrame
    total: int
    days: int
    truncated: bool


def stale_items(
    engine: Engine,
    days: int,
    *,
    now: datetime | None = None,
    row_limit: int = DEFAULT_ROW_LIMIT,
    fetch: NameFetcher | None = None,
    demo: bool = False,
) -> StaleItems:
    """Items without a successful API call in the last `days` days: failing ones first, then silent ones."""
    if not 1 <= int(days) <= MAX_STALE_DAYS:
        raise ValueError(f"Stale days must be between 1 and {MAX_STALE_DAYS}.")
    days = int(days)
    end = now or utc_now()
    frame = read_frame(
        engine,
        """
        WITH ev AS (
          SELECT id, item_id, created_at, error_code FROM plaid_api_events_table
          WHERE item_id IS NOT NULL AND created_at >= :since AND created_at < :end
        ),
        agg AS (
          SELECT item_id, count(*) AS calls, count(*) FILTER (WHERE error_code IS NOT NULL) AS errors,
                 count(*) FILTER (WHERE error_code IS NULL) AS successes, max(created_at) AS last_call_at
          FROM ev GROUP BY item_id
        ),
        last_err AS (
          SELECT DISTINCT ON (item_id) item_id, error_code FROM ev WHERE error_code IS NOT NULL
          ORDER BY item_id, created_at DESC, id DESC
        )
        SELECT i.id AS item_id, i.plaid_item_id, i.status, i.plaid_institution_id, i.user_id, u.username,
               i.created_at, coalesce(a.calls, 0) AS calls, coalesce(a.errors, 0) AS errors,
               a.last_call_at, le.error_code AS last_error_code, count(*) OVER () AS total
        FROM items_table i
        LEFT JOIN users_table u ON u.id = i.user_id
        LEFT JOIN agg a ON a.item_id = i.id
        LEFT JOIN last_err le ON le.item_id = i.id
        WHERE coalesce(a.successes, 0) = 0 AND i.created_at < :end
        ORDER BY coalesce(a.errors, 0) DESC, i.id
        LIMIT :row_limit
        """,
        {"since": end - timedelta(days=days), "end": end, "row_limit": row_limit},
    )
    total = int(frame["total"].iloc[0]) if len(frame) else 0
    frame = _with_names(engine, frame.drop(columns="total"), fetch, demo)
    return StaleItems(frame, total, days, total > len(frame))


# ---------------------------------------------------------------- hand-off to the admin page

ADMIN_LINK_MAX_IDS = 500  # ids in one URL; beyond this the link carries the filters instead


def admin_refresh_link(
    result: ItemList, health: Health | str | None, window_params: dict[str, str]
) -> tuple[str, bool]:
    """(admin-page URL, whether it names the exact items) for the items on the health list.

    Up to ADMIN_LINK_MAX_IDS listed items go by id. A longer (truncated) list goes
    as the filters the admin page shares (window, health, institution, status,
    error code), which it re-evaluates there; the user filter has no admin
    counterpart, so such a link is not exact.
    """
    ids = [str(i) for i in result.items["plaid_item_id"]] if len(result.items) else []
    if not result.truncated and len(ids) <= ADMIN_LINK_MAX_IDS:
        return admin_url(ids, **window_params), True
    f = result.filters
    return admin_url(
        **window_params,
        health=Health(health).value if health else None,
        institution=f.get("institution"),
        status=f.get("status"),
        code=f.get("error_code"),
    ), False
