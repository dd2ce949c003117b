"""Plaid API error trends: headlines, error rate over time, breakdowns, spikes.

Every figure is aggregated in PostgreSQL over plaid_api_events_table with the
window and filters as bound parameters; Python only reshapes the small
aggregated results. Each query is one function with the signature
(engine, window, filters, row_limit) so it can later be pointed at rollup
tables without touching the page.

Rules the numbers follow:
- A call is an error when its error_code is set (Pattern stores NULL
  error_code on success, see shared/reference/pattern-database.md).
- The method and institution filters select calls; the error-code and
  triage-class filters select which errors count, so the error rate under a
  code filter is "calls failing with that code / all calls".
- Institution comes from items_table through item_id. Calls without an item
  (no access token) or of items deleted since have none: they are grouped
  under UNKNOWN_INSTITUTION.
- Buckets are fixed-length UTC intervals (date_bin from a Monday at 00:00
  UTC), so a DST change in the session's time zone never stretches a bucket.

At scale the queries read the hourly rollups (dashboard.rollups) for the
whole hours of their range and the raw table for the rest, so the figures
are those of the raw table: `ev` carries `n` (events per row) and
first_at/last_at, and distinct items come from the per-item error rollup
(`evi`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_frame, read_rows
from dashboard.institutions import DEMO_INSTITUTION_NAMES
from dashboard.page_links import investigate_url
from dashboard.rollups import API_EVENTS_SQL, API_ITEM_ERRORS_SQL, maybe_refresh, rollup_params
from dashboard.spikes import BASELINE_DAYS, MIN_ERRORS, RULE_TEXT, SpikeVerdict, judge
from dashboard.timewindow import TimeWindow
from dashboard.triage import TriageClass, classify, sql_triage_class

DEFAULT_ROW_LIMIT = 200
UNKNOWN_INSTITUTION = "unknown"
UNKNOWN_INSTITUTION_LABEL = "unknown institution"
BUCKET_ORIGIN = datetime(2000, 1, 3, tzinfo=timezone.utc)  # a Monday: weekly buckets start on Mondays
NO_TYPE = "(no error_type)"

# Peer rule: an institution whose error rate in the window is this many times
# the median institution's rate is flagged even without a 7-day baseline,
# so a few hours' outage stands out in a 24 h window.
PEER_FACTOR = 3.0
PEER_MIN_CALLS = 20
PEER_RULE_TEXT = (
    f"An institution is also flagged when its error rate in the window is at least {PEER_FACTOR:g}× "
    f"the median error rate of institutions with at least {PEER_MIN_CALLS} calls in the window, "
    f"with at least {MIN_ERRORS} errors."
)
MIN_BASELINE_HOURS = 24.0
NO_BASELINE_REASON = "no baseline: the data starts less than a day before the window"
BASELINE_TEXT = (
    f"Baseline rules need at least {MIN_BASELINE_HOURS:g} h of data before the window; when the data "
    f"starts inside the {BASELINE_DAYS} days before the window, the baseline rate uses only the hours it covers."
)
SPIKE_RULES = (RULE_TEXT, BASELINE_TEXT, PEER_RULE_TEXT)

STACK_BY = {"class": "triage class", "type": "error type"}  # URL value -> label
DIMENSIONS = ("error_code", "plaid_method", "institution")
TRIAGE_CLASSES = tuple(c.value for c in TriageClass)


@dataclass(frozen=True)
class ApiFilters:
    method: str | None = None
    error_code: str | None = None
    institution: str | None = None  # plaid_institution_id, or UNKNOWN_INSTITUTION
    triage_class: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "f_method": self.method or None,
            "f_code": self.error_code or None,
            "f_ins": self.institution or None,
            "f_class": self.triage_class or None,
        }


def span(delta: timedelta) -> str:
    """'24 h', '7 days', '5 min' rather than timedelta's '1 day, 0:00:00'."""
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return str(delta)


def bucket_seconds(window: TimeWindow) -> int:
    return int(window.bucket.total_seconds())


def institution_label(institution_id: str | None, name: str | None = None) -> str:
    if not institution_id or institution_id == UNKNOWN_INSTITUTION:
        return UNKNOWN_INSTITUTION_LABEL
    name = name or DEMO_INSTITUTION_NAMES.get(institution_id)
    return f"{name} ({institution_id})" if name else institution_id


# SQL pieces shared by the queries below. Only fixed column names are
# interpolated; every value is a bound parameter.
BUCKET_EXPR = "date_bin(make_interval(secs => :bucket_s), {col}, CAST(:origin AS timestamptz))"
BUCKETS_CTE = (
    "buckets AS (SELECT generate_series("
    + BUCKET_EXPR.format(col="CAST(:start AS timestamptz)")
    + ", CAST(:end AS timestamptz) - interval '1 microsecond', make_interval(secs => :bucket_s)) AS b)"
)


def _events_cte(filters: ApiFilters) -> tuple[str, dict[str, Any]]:
    """`ev`: the filtered calls in [:q_start, :q_end) with institution, class and is_error.

    Each row stands for `n` calls (rolled-up hours) with their first_at and
    last_at; sum(n) is what count(*) over the raw table gives. Bind
    `with_rollups(...)` alongside.
    """
    joins, cls_expr, params = sql_triage_class("e.error_code", "e.error_type")
    sql = f"""ev AS (
      SELECT e.created_at, e.plaid_method, e.error_type, e.error_code,
             COALESCE(e.plaid_institution_id, :unknown_ins) AS institution,
             {cls_expr} AS triage_class,
             (e.error_code IS NOT NULL
              AND (CAST(:f_code AS text) IS NULL OR e.error_code = :f_code)
              AND (CAST(:f_class AS text) IS NULL OR {cls_expr} = :f_class)) AS is_error,
             e.n, e.first_at, e.last_at
      FROM ({API_EVENTS_SQL}) e
      {joins}
      WHERE (CAST(:f_method AS text) IS NULL OR e.plaid_method = :f_method)
        AND (CAST(:f_ins AS text) IS NULL OR COALESCE(e.plaid_institution_id, :unknown_ins) = :f_ins)
    )"""
    return sql, {**params, **filters.params(), "unknown_ins": UNKNOWN_INSTITUTION}


def _items_cte(filters: ApiFilters) -> str:
    """`evi`: the errors that count (is_error) of calls with an item, for distinct items affected."""
    joins, cls_expr, _ = sql_triage_class("e.error_code", "e.error_type")
    if not filters.triage_class:  # the class joins cost more than the rest on a month of rows
        joins, cls_expr = "", "CAST(:f_class AS text)"
    return f"""evi AS (
      SELECT e.created_at, e.item_id, e.plaid_method, e.error_code,
             COALESCE(e.plaid_institution_id, :unknown_ins) AS institution
      FROM ({API_ITEM_ERRORS_SQL}) e
      {joins}
      WHERE (CAST(:f_method AS text) IS NULL OR e.plaid_method = :f_method)
        AND (CAST(:f_ins AS text) IS NULL OR COALESCE(e.plaid_institution_id, :unknown_ins) = :f_ins)
        AND (CAST(:f_code AS text) IS NULL OR e.error_code = :f_code)
        AND (CAST(:f_class AS text) IS NULL OR {cls_expr} = :f_class)
    )"""


def with_rollups(engine: Engine, p: dict[str, Any], *, bucketed: bool = False, split: datetime | None = None,
                 ) -> dict[str, Any]:
    """Rollup parameters for the range [:q_start, :q_end) of p (refreshing the rollups at most once a minute)."""
    maybe_refresh(engine)
    bucket = timedelta(seconds=p["bucket_s"]) if bucketed else None
    return {**p, **rollup_params(p["q_start"], p["q_end"], engine, bucket=bucket, split=split)}


def window_params(window: TimeWindow, row_limit: int) -> dict[str, Any]:
    """The bound parameters every windowed, bucketed query takes (shared with link_analytics)."""
    return {
        **window.params(),
        "q_start": window.start,
        "q_end": window.end,
        "bucket_s": bucket_seconds(window),
        "origin": BUCKET_ORIGIN,
        "row_limit": int(row_limit),
    }


# ---------------------------------------------------------------- headlines


@dataclass(frozen=True)
class Headline:
    calls: int
    errors: int
    items_affected: int
    prev_calls: int
    prev_errors: int
    prev_items_affected: int

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None

    @property
    def prev_error_rate(self) -> float | None:
        return self.prev_errors / self.prev_calls if self.prev_calls else None


def api_headline(engine: Engine, window: TimeWindow, filters: ApiFilters, row_limit: int = 1) -> Headline:
    """Calls, errors, items affected in the window and in the previous window of equal length."""
    ev, params = _events_cte(filters)
    prev = window.previous()
    sql = f"""WITH {ev}, {_items_cte(filters)},
      c AS (
        SELECT COALESCE(sum(n) FILTER (WHERE created_at >= :start), 0) AS calls,
               COALESCE(sum(n) FILTER (WHERE created_at >= :start AND is_error), 0) AS errors,
               COALESCE(sum(n) FILTER (WHERE created_at < :start), 0) AS prev_calls,
               COALESCE(sum(n) FILTER (WHERE created_at < :start AND is_error), 0) AS prev_errors
        FROM ev
      ),
      d AS (  -- distinct items by hashing item ids (count(DISTINCT) would sort every row)
        SELECT count(*) FILTER (WHERE cur) AS items_affected, count(*) FILTER (WHERE prev) AS prev_items_affected
        FROM (SELECT item_id, bool_or(created_at >= :start) AS cur, bool_or(created_at < :start) AS prev
              FROM evi GROUP BY item_id) per_item
      )
      SELECT c.calls, c.errors, d.items_affected, c.prev_calls, c.prev_errors, d.prev_items_affected
      FROM c CROSS JOIN d LIMIT :row_limit"""
    p = {**params, **window_params(window, row_limit), "q_start": prev.start}
    row = read_rows(engine, sql, with_rollups(engine, p, split=window.start))[0]
    return Headline(**{k: int(v) for k, v in row.items()})


# ---------------------------------------------------------- rate over time


def api_error_rate_series(
    engine: Engine, window: TimeWindow, filters: ApiFilters, stack_by: str = "class",
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> pd.DataFrame:
    """One row per (UTC bucket, series): calls in the bucket, errors of that series, error_rate.

    Every bucket of the window appears; a bucket without errors has one row
    with series None and 0 errors, so charts show the quiet stretch.
    """
    if stack_by not in STACK_BY:
        raise ValueError(f"stack_by must be one of {', '.join(STACK_BY)}")
    series = "triage_class" if stack_by == "class" else "COALESCE(error_type, :no_type)"
    ev, params = _events_cte(filters)
    sql = f"""WITH {ev}, {BUCKETS_CTE},
      per AS (
        SELECT {BUCKET_EXPR.format(col="created_at")} AS b,
               CASE WHEN is_error THEN {series} END AS series, sum(n) AS n
        FROM ev GROUP BY 1, 2
      ),
      totals AS (SELECT b, sum(n) AS calls FROM per GROUP BY b)
      SELECT bk.b AT TIME ZONE 'UTC' AS bucket, COALESCE(t.calls, 0)::bigint AS calls,
             per.series, COALESCE(per.n, 0)::bigint AS errors
      FROM buckets bk
      LEFT JOIN totals t ON t.b = bk.b
      LEFT JOIN per ON per.b = bk.b AND per.series IS NOT NULL
      ORDER BY bk.b, per.series LIMIT :row_limit"""
    p = {**params, **window_params(window, row_limit), "no_type": NO_TYPE}
    df = read_frame(engine, sql, with_rollups(engine, p, bucketed=True))
    if df.empty:
        return pd.DataFrame(columns=["bucket", "calls", "series", "errors", "error_rate", "bucket_end"])
    df["calls"] = df["calls"].astype(int)
    df["errors"] = df["errors"].astype(int)
    df["error_rate"] = (df["errors"] / df["calls"].where(df["calls"] > 0)).fillna(0.0)
    df["bucket"] = pd.to_datetime(df["bucket"])
    df["bucket_end"] = df["bucket"] + window.bucket
    return df


# ---------------------------------------------------------------- breakdowns

_DIM_KEY = {
    "error_code": "error_code",
    "plaid_method": "plaid_method",
    "institution": "institution",
}


def api_breakdown(
    engine: Engine, window: TimeWindow, filters: ApiFilters, dimension: str,
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> pd.DataFrame:
    """Errors by error_code, plaid_method or institution in the window.

    Columns: key, calls (not for error_code), errors, error_rate, share (of
    all errors in the window), items_affected, first_seen, last_seen (UTC,
    of errors), trend (errors per bucket, oldest first), and for error codes
    error_type (the most common one). Rows ordered by errors, then calls.
    """
    if dimension not in _DIM_KEY:
        raise ValueError(f"dimension must be one of {', '.join(_DIM_KEY)}")
    key = _DIM_KEY[dimension]
    where = "WHERE is_error" if dimension == "error_code" else ""
    # mode() over error_type, weighted by n: the most frequent non-NULL type, ties to the smallest.
    extra = "modes.error_type," if dimension == "error_code" else ""
    types_cte = (
        "modes AS (SELECT DISTINCT ON (key) key, error_type FROM ("
        "SELECT error_code AS key, error_type, sum(n) AS n FROM ev "
        "WHERE is_error AND error_type IS NOT NULL GROUP BY 1, 2) t ORDER BY key, n DESC, error_type),"
        if dimension == "error_code" else ""
    )
    name_join = (
        "LEFT JOIN dashboard_institutions di ON di.plaid_institution_id = top.key"
        if dimension == "institution" else ""
    )
    name_col = "di.name AS name," if dimension == "institution" else ""
    ev, params = _events_cte(filters)
    sql = f"""WITH {ev}, {_items_cte(filters)}, {BUCKETS_CTE}, {types_cte}
      grouped AS (
        SELECT {key} AS key,
               sum(n) AS calls,
               COALESCE(sum(n) FILTER (WHERE is_error), 0) AS errors,
               min(first_at) FILTER (WHERE is_error) AS first_seen,
               max(last_at) FILTER (WHERE is_error) AS last_seen
        FROM ev {where} GROUP BY {key}
      ),
      items AS (  -- distinct items by hashing (key, item) pairs (count(DISTINCT) would sort every row)
        SELECT key, count(*) AS items_affected
        FROM (SELECT {key} AS key, item_id FROM evi GROUP BY 1, 2) pairs GROUP BY key
      ),
      agg AS (
        SELECT grouped.*, {extra} COALESCE(items.items_affected, 0) AS items_affected
        FROM grouped LEFT JOIN items USING (key) {"LEFT JOIN modes USING (key)" if extra else ""}
      ),
      top AS (
        SELECT agg.*, sum(errors) OVER () AS total_errors FROM agg
        ORDER BY errors DESC, calls DESC, key LIMIT :row_limit
      ),
      per AS MATERIALIZED (  -- else inlined into the per-row ARRAY() and rescanned once per row
        SELECT {key} AS key, {BUCKET_EXPR.format(col="created_at")} AS b, sum(n) AS n
        FROM ev WHERE is_error AND {key} IN (SELECT key FROM top) GROUP BY 1, 2
      )
      SELECT top.key, {name_col} top.calls, top.errors, top.items_affected,
             top.total_errors, {"top.error_type," if extra else ""}
             top.first_seen AT TIME ZONE 'UTC' AS first_seen,
             top.last_seen AT TIME ZONE 'UTC' AS last_seen,
             ARRAY(SELECT COALESCE(per.n, 0) FROM buckets bk
                   LEFT JOIN per ON per.b = bk.b AND per.key = top.key ORDER BY bk.b) AS trend
      FROM top {name_join}
      ORDER BY top.errors DESC, top.calls DESC, top.key LIMIT :row_limit"""
    df = read_frame(engine, sql, with_rollups(engine, {**params, **window_params(window, row_limit)}, bucketed=True))
    tail = ["share", "items_affected", "first_seen", "last_seen", "trend"]
    if dimension == "error_code":
        cols = ["key", "error_type", "errors", *tail]
    else:
        cols = ["key", "label", "calls", "errors", "error_rate", *tail]
    if df.empty:
        return pd.DataFrame(columns=cols)
    for c in ("calls", "errors", "items_affected", "total_errors"):
        df[c] = df[c].astype(int)
    df["error_rate"] = df["errors"] / df["calls"]
    df["share"] = (df["errors"] / df["total_errors"].where(df["total_errors"] > 0)).fillna(0.0)
    df["trend"] = df["trend"].map(lambda a: [int(x) for x in a])
    if dimension == "institution":
        df["label"] = [institution_label(k, n) for k, n in zip(df["key"], df["name"], strict=True)]
    else:
        df["label"] = df["key"]
    return df[cols]


def with_triage(codes: pd.DataFrame) -> pd.DataFrame:
    """Add the triage class and next step to an error-code breakdown (small, aggregated)."""
    out = codes.copy()
    tri = [classify(c, t) for c, t in zip(out["key"], out["error_type"], strict=True)]
    out["triage_class"] = [t.label for t in tri]
    out["next_step"] = [t.next_step for t in tri]
    return out


# ------------------------------------------------------------------- spikes


@dataclass(frozen=True)
class SpikeRow:
    kind: str  # "error_code" or "institution"
    key: str
    label: str
    window_errors: int
    baseline_errors: int
    window_calls: int
    ratio: float | None
    new: bool
    spike: bool
    peer: bool
    reason: str

    @property
    def flagged(self) -> bool:
        return self.spike or self.new or self.peer


def baseline_coverage_hours(engine: Engine, window: TimeWindow) -> float:
    """Hours of the BASELINE_DAYS before the window that the event table covers.

    A database whose events start inside the baseline (a new install, or a
    30-day window over 30 days of data) would make every code look new and
    every institution spike, so the baseline rate uses only the covered hours.
    """
    row = read_rows(engine, "SELECT min(created_at) AS first FROM plaid_api_events_table LIMIT :row_limit",
                    {"row_limit": 1})[0]
    if row["first"] is None:
        return 0.0
    baseline_start = max(window.start - timedelta(days=BASELINE_DAYS), row["first"])
    return max(0.0, (window.start - baseline_start).total_seconds() / 3600)


def api_spikes(
    engine: Engine, window: TimeWindow, filters: ApiFilters, row_limit: int = DEFAULT_ROW_LIMIT,
) -> list[SpikeRow]:
    """Spike, new and peer flags per error code and per institution (see SPIKE_RULES)."""
    ev, params = _events_cte(filters)
    baseline_start = window.start - timedelta(days=BASELINE_DAYS)
    p = {**params, **window_params(window, row_limit), "q_start": baseline_start,
         "peer_min_calls": PEER_MIN_CALLS}
    window_hours = window.duration.total_seconds() / 3600
    baseline_hours = baseline_coverage_hours(engine, window)
    rows: list[SpikeRow] = []
    p = with_rollups(engine, p, split=window.start)

    def verdict(window_errors: int, baseline_errors: int) -> SpikeVerdict:
        if baseline_hours < MIN_BASELINE_HOURS:
            return SpikeVerdict(False, False, None, NO_BASELINE_REASON)
        return judge(window_errors, window_hours, baseline_errors, baseline_hours)

    code_sql = f"""WITH {ev}
      SELECT error_code AS key,
             COALESCE(sum(n) FILTER (WHERE created_at >= :start), 0) AS window_errors,
             COALESCE(sum(n) FILTER (WHERE created_at < :start), 0) AS baseline_errors
      FROM ev WHERE is_error GROUP BY 1
      HAVING sum(n) FILTER (WHERE created_at >= :start) > 0
      ORDER BY 2 DESC, 1 LIMIT :row_limit"""
    for r in read_rows(engine, code_sql, p):
        v = verdict(int(r["window_errors"]), int(r["baseline_errors"]))
        rows.append(SpikeRow("error_code", r["key"], r["key"], int(r["window_errors"]),
                             int(r["baseline_errors"]), 0, v.ratio, v.new, v.spike, False, v.reason))

    ins_sql = f"""WITH {ev},
      per AS (
        SELECT institution AS key,
               COALESCE(sum(n) FILTER (WHERE created_at >= :start AND is_error), 0) AS window_errors,
               COALESCE(sum(n) FILTER (WHERE created_at < :start AND is_error), 0) AS baseline_errors,
               COALESCE(sum(n) FILTER (WHERE created_at >= :start), 0) AS window_calls
        FROM ev GROUP BY 1
      ),
      med AS (
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY window_errors::float8 / window_calls) AS m
        FROM per WHERE window_calls >= :peer_min_calls AND key <> :unknown_ins
      )
      SELECT per.key, per.window_errors, per.baseline_errors, per.window_calls, med.m AS median_rate,
             di.name
      FROM per CROSS JOIN med
      LEFT JOIN dashboard_institutions di ON di.plaid_institution_id = per.key
      WHERE per.window_errors > 0
      ORDER BY per.window_errors DESC, per.key LIMIT :row_limit"""
    for r in read_rows(engine, ins_sql, p):
        we, be, wc = int(r["window_errors"]), int(r["baseline_errors"]), int(r["window_calls"])
        v = verdict(we, be)
        reasons = [v.reason]
        peer = False
        median = r["median_rate"]
        if r["key"] != UNKNOWN_INSTITUTION and median is not None and wc >= PEER_MIN_CALLS:
            rate = we / wc
            peer = we >= MIN_ERRORS and rate >= PEER_FACTOR * float(median)
            if peer:
                reasons.append(f"error rate {rate:.1%} vs median institution {float(median):.1%}")
        # "new" is a rule for error codes: an institution without errors last week is normal.
        rows.append(SpikeRow("institution", r["key"], institution_label(r["key"], r["name"]), we, be, wc,
                             v.ratio, False, v.spike, peer, "; ".join(reasons)))
    return rows


def spike_frame(rows: list[SpikeRow], *, flagged_only: bool = True) -> pd.DataFrame:
    cols = ["kind", "key", "label", "flag", "window_errors", "baseline_errors", "ratio", "reason"]
    kept = [r for r in rows if r.flagged or not flagged_only]
    if not kept:
        return pd.DataFrame(columns=cols)
    data = []
    for r in kept:
        flags = [f for f, on in (("spike", r.spike), ("new", r.new), ("peer outlier", r.peer)) if on]
        data.append({"kind": r.kind, "key": r.key, "label": r.label, "flag": ", ".join(flags) or "—",
                     "window_errors": r.window_errors, "baseline_errors": r.baseline_errors,
                     "ratio": r.ratio, "reason": r.reason})
    return pd.DataFrame(data, columns=cols)


# ------------------------------------------------------------- filter values


def api_filter_options(engine: Engine, window: TimeWindow, row_limit: int = DEFAULT_ROW_LIMIT) -> dict[str, list[str]]:
    """Methods, error codes and institutions seen in the window, for the filter pickers."""
    sql = f"""
      WITH seen AS MATERIALIZED (
        SELECT plaid_method, error_code, COALESCE(plaid_institution_id, :unknown_ins) AS institution
        FROM ({API_EVENTS_SQL}) e GROUP BY 1, 2, 3
      )
      SELECT 'method' AS kind, plaid_method AS value FROM seen GROUP BY plaid_method
      UNION ALL
      SELECT 'code', error_code FROM seen WHERE error_code IS NOT NULL GROUP BY error_code
      UNION ALL
      SELECT 'institution', institution FROM seen GROUP BY institution
      ORDER BY 1, 2 LIMIT :row_limit"""
    maybe_refresh(engine)
    out: dict[str, list[str]] = {"method": [], "code": [], "institution": []}
    for r in read_rows(engine, sql, {**rollup_params(window.start, window.end, engine),
                                     "unknown_ins": UNKNOWN_INSTITUTION, "row_limit": int(row_limit) * 3}):
        out[r["kind"]].append(r["value"])
    return out


# ------------------------------------------------------------------ report


@dataclass
class ApiReport:
    window: TimeWindow
    filters: ApiFilters
    stack_by: str
    headline: Headline
    series: pd.DataFrame
    codes: pd.DataFrame
    methods: pd.DataFrame
    institutions: pd.DataFrame
    spikes: list[SpikeRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.headline.calls == 0

    @property
    def flagged(self) -> list[SpikeRow]:
        return [s for s in self.spikes if s.flagged]


def _flag_column(df: pd.DataFrame, spikes: list[SpikeRow], kind: str) -> pd.DataFrame:
    flags = {}
    for s in spikes:
        if s.kind == kind and s.flagged:
            flags[s.key] = ", ".join(f for f, on in (("spike", s.spike), ("new", s.new), ("peer", s.peer)) if on)
    out = df.copy()
    out["flag"] = [flags.get(k, "") for k in out["key"]] if not out.empty else []
    return out


def api_report(
    engine: Engine, window: TimeWindow, filters: ApiFilters, stack_by: str = "class",
    row_limit: int = DEFAULT_ROW_LIMIT,
) -> ApiReport:
    """Everything the Plaid API tab shows, for one window and set of filters."""
    spikes = api_spikes(engine, window, filters, row_limit)
    codes = with_triage(api_breakdown(engine, window, filters, "error_code", row_limit))
    return ApiReport(
        window=window,
        filters=filters,
        stack_by=stack_by,
        headline=api_headline(engine, window, filters),
        series=api_error_rate_series(engine, window, filters, stack_by, max(row_limit, 2000)),
        codes=_flag_column(codes, spikes, "error_code"),
        methods=api_breakdown(engine, window, filters, "plaid_method", row_limit),
        institutions=_flag_column(api_breakdown(engine, window, filters, "institution", row_limit),
                                  spikes, "institution"),
        spikes=spikes,
    )


def window_url_params(window: TimeWindow) -> dict[str, str]:
    """The URL keys ui.window_picker reads, so a linked page opens on the same window."""
    if window.key != "custom":
        return {"window": window.key}
    return {"window": "custom", "window_start": _url_instant(window.start), "window_end": _url_instant(window.end)}


def _url_instant(at: datetime) -> str:
    # Minutes when exact (readable URLs); otherwise every digit, or the linked page's
    # window would silently lose the events of the last partial minute.
    if at.second == 0 and at.microsecond == 0:
        return at.strftime("%Y-%m-%dT%H:%M")
    return at.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def investigate_link(window: TimeWindow, filters: ApiFilters | None = None, **overrides: str | None) -> str:
    """Investigate-page URL for the matching events: window, the page's filters, then the row's key.

    `source=api`: these rows count Plaid API calls only, so Link events sharing a
    code (ITEM_LOGIN_REQUIRED, say) must not be listed with them.
    """
    f = filters or ApiFilters()
    params: dict[str, object] = {
        **window_url_params(window),
        "source": "api",
        "method": f.method,
        "code": f.error_code,
        "institution": f.institution,
        "triage": f.triage_class,
    }
    params.update(overrides)
    if not params.get("code") and ("institution" in overrides or "method" in overrides):
        params["errors"] = "1"  # these rows count errors; the successes would bury them
    return investigate_url(**params)


def link_code_investigate_link(window: TimeWindow, code: str) -> str:
    """Investigate-page URL for the Link exits with `code` (what the Link error-code rows count)."""
    return investigate_url(**window_url_params(window), source="link", method="Link exit", code=code)
