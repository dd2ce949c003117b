"""Link analytics over link_events_table: sessions, conversion, exit reasons.

Pattern writes one row per Link onSuccess / onExit callback (`type` is
'success' or 'exit'). Rules the numbers follow:
- A session is a distinct link_session_id; a row without one counts as a
  session of its own, so nothing silently disappears.
- Successes and conversion count sessions: conversion = sessions with a
  success / sessions.
- Exits count exit rows: "with error" when error_code is set, otherwise
  "without error" (the user left without a failure).
- Buckets are fixed-length UTC intervals, as in dashboard.trends.
All aggregation happens in SQL with the window as bound parameters.

At scale the queries read the hourly Link rollup (dashboard.rollups) plus raw
rows for what it does not hold; `lev` rows stand for `n` events. Distinct
sessions are rows minus the extra rows of the few sessions with several rows
(`mlev`, read raw): exactly what count(DISTINCT session) gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_frame, read_rows
from dashboard.rollups import LINK_EVENTS_SQL, LINK_MULTI_SESSION_ROWS_SQL
from dashboard.timewindow import TimeWindow
from dashboard.trends import BUCKET_EXPR, BUCKETS_CTE, DEFAULT_ROW_LIMIT, window_params, with_rollups
from dashboard.triage import classify, link_status_hint

NO_STATUS = "(no status)"

_EVENTS_CTE = f"""lev AS (
  SELECT created_at, type, error_type, error_code, status, n, first_at, last_at FROM ({LINK_EVENTS_SQL}) e
),
mlev AS MATERIALIZED (
  SELECT created_at, type, error_type, error_code, status, session FROM ({LINK_MULTI_SESSION_ROWS_SQL}) m
)"""


@dataclass(frozen=True)
class LinkHeadline:
    sessions: int
    successes: int
    exits_with_error: int
    exits_without_error: int
    prev_sessions: int
    prev_successes: int
    prev_exits_with_error: int
    prev_exits_without_error: int

    @property
    def conversion(self) -> float | None:
        return self.successes / self.sessions if self.sessions else None

    @property
    def prev_conversion(self) -> float | None:
        return self.prev_successes / self.prev_sessions if self.prev_sessions else None


def link_headline(engine: Engine, window: TimeWindow, row_limit: int = 1) -> LinkHeadline:
    """Sessions, successes and exits in the window and the previous window of equal length."""
    cur, prev, ok = "created_at >= :start", "created_at < :start", "type = 'success'"
    sql = f"""WITH {_EVENTS_CTE},
      r AS (
        SELECT COALESCE(sum(n) FILTER (WHERE {cur}), 0) AS rows_cur,
               COALESCE(sum(n) FILTER (WHERE {cur} AND {ok}), 0) AS ok_cur,
               COALESCE(sum(n) FILTER (WHERE {cur} AND type = 'exit' AND error_code IS NOT NULL), 0)
                 AS exits_with_error,
               COALESCE(sum(n) FILTER (WHERE {cur} AND type = 'exit' AND error_code IS NULL), 0)
                 AS exits_without_error,
               COALESCE(sum(n) FILTER (WHERE {prev}), 0) AS rows_prev,
               COALESCE(sum(n) FILTER (WHERE {prev} AND {ok}), 0) AS ok_prev,
               COALESCE(sum(n) FILTER (WHERE {prev} AND type = 'exit' AND error_code IS NOT NULL), 0)
                 AS prev_exits_with_error,
               COALESCE(sum(n) FILTER (WHERE {prev} AND type = 'exit' AND error_code IS NULL), 0)
                 AS prev_exits_without_error
        FROM lev
      ),
      c AS (  -- the extra rows of sessions with several rows
        SELECT COALESCE(sum(greatest(cur - 1, 0)), 0) AS cur, COALESCE(sum(greatest(ok_cur - 1, 0)), 0) AS ok_cur,
               COALESCE(sum(greatest(prev - 1, 0)), 0) AS prev,
               COALESCE(sum(greatest(ok_prev - 1, 0)), 0) AS ok_prev
        FROM (SELECT session, count(*) FILTER (WHERE {cur}) AS cur, count(*) FILTER (WHERE {cur} AND {ok}) AS ok_cur,
                     count(*) FILTER (WHERE {prev}) AS prev, count(*) FILTER (WHERE {prev} AND {ok}) AS ok_prev
              FROM mlev GROUP BY session) per_session
      )
      SELECT r.rows_cur - c.cur AS sessions, r.ok_cur - c.ok_cur AS successes,
             r.exits_with_error, r.exits_without_error,
             r.rows_prev - c.prev AS prev_sessions, r.ok_prev - c.ok_prev AS prev_successes,
             r.prev_exits_with_error, r.prev_exits_without_error
      FROM r CROSS JOIN c LIMIT :row_limit"""
    p = {**window_params(window, row_limit), "q_start": window.previous().start}
    row = read_rows(engine, sql, with_rollups(engine, p, split=window.start))[0]
    return LinkHeadline(**{k: int(v) for k, v in row.items()})


def link_conversion_series(engine: Engine, window: TimeWindow, row_limit: int = DEFAULT_ROW_LIMIT) -> pd.DataFrame:
    """Per UTC bucket: sessions, successes, exits with/without error, conversion (None if no sessions)."""
    sql = f"""WITH {_EVENTS_CTE}, {BUCKETS_CTE},
      rows_per AS (
        SELECT {BUCKET_EXPR.format(col="created_at")} AS b,
               sum(n) AS rows, COALESCE(sum(n) FILTER (WHERE type = 'success'), 0) AS ok_rows,
               COALESCE(sum(n) FILTER (WHERE type = 'exit' AND error_code IS NOT NULL), 0) AS exits_with_error,
               COALESCE(sum(n) FILTER (WHERE type = 'exit' AND error_code IS NULL), 0) AS exits_without_error
        FROM lev GROUP BY 1
      ),
      extra AS (  -- the extra rows of sessions with several rows in one bucket
        SELECT b, sum(greatest(c - 1, 0)) AS c, sum(greatest(ok - 1, 0)) AS ok
        FROM (SELECT {BUCKET_EXPR.format(col="created_at")} AS b, session, count(*) AS c,
                     count(*) FILTER (WHERE type = 'success') AS ok
              FROM mlev GROUP BY 1, 2) per_session GROUP BY b
      ),
      per AS (
        SELECT rows_per.b, rows_per.rows - COALESCE(extra.c, 0) AS sessions,
               rows_per.ok_rows - COALESCE(extra.ok, 0) AS successes,
               rows_per.exits_with_error, rows_per.exits_without_error
        FROM rows_per LEFT JOIN extra USING (b)
      )
      SELECT bk.b AT TIME ZONE 'UTC' AS bucket,
             COALESCE(per.sessions, 0) AS sessions, COALESCE(per.successes, 0) AS successes,
             COALESCE(per.exits_with_error, 0) AS exits_with_error,
             COALESCE(per.exits_without_error, 0) AS exits_without_error
      FROM buckets bk LEFT JOIN per ON per.b = bk.b ORDER BY bk.b LIMIT :row_limit"""
    df = read_frame(engine, sql, with_rollups(engine, window_params(window, row_limit), bucketed=True))
    cols = ["bucket", "sessions", "successes", "exits_with_error", "exits_without_error", "conversion",
            "bucket_end"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    for c in cols[1:5]:
        df[c] = df[c].astype(int)
    df["conversion"] = df["successes"] / df["sessions"].where(df["sessions"] > 0)
    df["bucket"] = pd.to_datetime(df["bucket"])
    df["bucket_end"] = df["bucket"] + window.bucket
    return df[cols]


def _exit_breakdown(engine: Engine, window: TimeWindow, key: str, where: str, extra: str,
                    row_limit: int) -> pd.DataFrame:
    sql = f"""WITH {_EVENTS_CTE}, {BUCKETS_CTE},
      ex AS (SELECT *, {key} AS key FROM lev WHERE type = 'exit' {where}),
      mex AS (SELECT *, {key} AS key FROM mlev WHERE type = 'exit' {where}),
      modes AS (  -- mode() over error_type weighted by n: most frequent non-NULL, ties to the smallest
        SELECT DISTINCT ON (key) key, error_type
        FROM (SELECT key, error_type, sum(n) AS n FROM ex WHERE error_type IS NOT NULL GROUP BY 1, 2) t
        ORDER BY key, n DESC, error_type
      ),
      grouped AS (
        SELECT key,
               sum(n) AS exits,
               COALESCE(sum(n) FILTER (WHERE error_code IS NOT NULL), 0) AS with_error,
               min(first_at) AS first_seen, max(last_at) AS last_seen
        FROM ex GROUP BY key
      ),
      extra_rows AS (  -- the extra rows of sessions with several exit rows under one key
        SELECT key, sum(greatest(c - 1, 0)) AS c
        FROM (SELECT key, session, count(*) AS c FROM mex GROUP BY 1, 2) per_session GROUP BY key
      ),
      agg AS (
        SELECT grouped.*, {extra} grouped.exits - COALESCE(extra_rows.c, 0) AS sessions
        FROM grouped LEFT JOIN extra_rows USING (key) LEFT JOIN modes USING (key)
      ),
      top AS (SELECT agg.*, sum(exits) OVER () AS total FROM agg ORDER BY exits DESC, key LIMIT :row_limit),
      per AS MATERIALIZED (  -- else inlined into the per-row ARRAY() and rescanned once per row
        SELECT key, {BUCKET_EXPR.format(col="created_at")} AS b, sum(n) AS n
        FROM ex WHERE key IN (SELECT key FROM top) GROUP BY 1, 2
      )
      SELECT top.*, top.first_seen AT TIME ZONE 'UTC' AS first_seen_utc,
             top.last_seen AT TIME ZONE 'UTC' AS last_seen_utc,
             ARRAY(SELECT COALESCE(per.n, 0) FROM buckets bk
                   LEFT JOIN per ON per.b = bk.b AND per.key = top.key ORDER BY bk.b) AS trend
      FROM top ORDER BY exits DESC, key LIMIT :row_limit"""
    df = read_frame(engine, sql, with_rollups(engine, {**window_params(window, row_limit), "no_status": NO_STATUS},
                                         bucketed=True))
    if df.empty:
        return df
    for c in ("exits", "with_error", "sessions", "total"):
        df[c] = df[c].astype(int)
    df["share"] = df["exits"] / df["total"]
    df["first_seen"] = df.pop("first_seen_utc")
    df["last_seen"] = df.pop("last_seen_utc")
    df["trend"] = df["trend"].map(lambda a: [int(x) for x in a])
    return df


def link_exit_statuses(engine: Engine, window: TimeWindow, row_limit: int = DEFAULT_ROW_LIMIT) -> pd.DataFrame:
    """Exits by Link exit status (NULL shown as NO_STATUS) with a hint for each."""
    cols = ["key", "exits", "with_error", "share", "sessions", "first_seen", "last_seen", "trend", "hint"]
    df = _exit_breakdown(engine, window, "COALESCE(status, :no_status)", "", "", row_limit)
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["hint"] = [link_status_hint(None if k == NO_STATUS else k) for k in df["key"]]
    return df[cols]


def link_error_codes(engine: Engine, window: TimeWindow, row_limit: int = DEFAULT_ROW_LIMIT) -> pd.DataFrame:
    """Exits after an error, by error_code, with the triage class and next step."""
    cols = ["key", "error_type", "exits", "share", "sessions", "first_seen", "last_seen", "trend",
            "triage_class", "next_step"]
    df = _exit_breakdown(engine, window, "error_code", "AND error_code IS NOT NULL",
                         "modes.error_type AS error_type,", row_limit)
    if df.empty:
        return pd.DataFrame(columns=cols)
    tri = [classify(c, t) for c, t in zip(df["key"], df["error_type"], strict=True)]
    df["triage_class"] = [t.label for t in tri]
    df["next_step"] = [t.next_step for t in tri]
    return df[cols]


@dataclass
class LinkReport:
    window: TimeWindow
    headline: LinkHeadline
    series: pd.DataFrame
    statuses: pd.DataFrame
    codes: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.headline.sessions == 0


def link_report(engine: Engine, window: TimeWindow, row_limit: int = DEFAULT_ROW_LIMIT) -> LinkReport:
    """Everything the Link tab shows for one window."""
    return LinkReport(
        window=window,
        headline=link_headline(engine, window),
        series=link_conversion_series(engine, window, max(row_limit, 500)),
        statuses=link_exit_statuses(engine, window, row_limit),
        codes=link_error_codes(engine, window, row_limit),
    )
