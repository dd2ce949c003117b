"""Institution health: per plaid_institution_id, where the integration hurts.

Items and the share of bad items come from items_table; API success rates
from the item-bound events of the window and of the window just before it;
spikes use the trends view's rule (dashboard.spikes) against the
BASELINE_DAYS before the window, plus a peer rule: an institution whose error
rate is at least PEER_FACTOR times the median institution's is flagged too.
All counting happens in SQL; Python only applies the rules to the counts.

Counts, top codes and the trend read the hourly/daily rollups
(dashboard.rollups) plus raw rows for what they do not hold; the trend's
buckets count from the window's start, so the hours its bucket boundaries
cut are read raw.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_frame
from dashboard.institution_names import NameFetcher, resolve_names
from dashboard.rollups import API_EVENTS_SQL, maybe_refresh, rollup_params
from dashboard.spikes import BASELINE_DAYS, MIN_ERRORS, RULE_TEXT, judge
from dashboard.timewindow import TimeWindow

PEER_FACTOR = 3.0
TOP_CODES = 3
STEADY_POINTS = 1.0  # a change in success rate under this many points is "steady"
DEFAULT_ROW_LIMIT = 1000
_TREND_ROW_LIMIT = 50_000

PEER_RULE_TEXT = (
    f"Also flagged when its error rate in the window is at least {PEER_FACTOR:g}× the median "
    f"institution's, with at least {MIN_ERRORS} errors."
)
FLAG_RULE_TEXT = RULE_TEXT + " " + PEER_RULE_TEXT

COLUMNS = [
    "plaid_institution_id",
    "name",
    "flagged",
    "flag_reason",
    "items",
    "bad_items",
    "share_bad",
    "calls",
    "errors",
    "success_rate",
    "prev_success_rate",
    "change_pts",
    "trend_label",
    "trend",
    "top_errors",
]


@dataclass(frozen=True)
class InstitutionHealth:
    institutions: pd.DataFrame  # worst first
    median_error_rate: float | None
    window: TimeWindow
    truncated: bool

    @property
    def window_calls(self) -> int:
        """Calls in the window over the listed institutions (0: nothing to judge them by)."""
        return 0 if self.institutions.empty else int(self.institutions["calls"].sum())


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


def _trend_label(now: float | None, before: float | None) -> str:
    if now is None:
        return "no calls"
    if before is None:
        return "new traffic"
    delta = (now - before) * 100
    if abs(delta) < STEADY_POINTS:
        return "steady"
    return f"{'better' if delta > 0 else 'worse'} by {abs(delta):.1f} pts"


def institution_health(
    engine: Engine,
    window: TimeWindow,
    *,
    row_limit: int = DEFAULT_ROW_LIMIT,
    fetch: NameFetcher | None = None,
    demo: bool = False,
) -> InstitutionHealth:
    """Per-institution health for the window, worst first (flagged, then error rate)."""
    prev = window.previous()
    base_start = min(prev.start, window.start - timedelta(days=BASELINE_DAYS))
    params = {
        **window.params(),
        "prev_start": prev.start,
        "base_start": base_start,
        "spike_base_start": window.start - timedelta(days=BASELINE_DAYS),
    }
    maybe_refresh(engine)
    # The instants the counts compare created_at with, inside [base_start, end).
    splits = sorted({t for t in (prev.start, params["spike_base_start"], window.start) if t > base_start})
    counts = read_frame(
        engine,
        f"""
        WITH items AS (
          SELECT plaid_institution_id AS institution, count(*) AS items,
                 count(*) FILTER (WHERE status = 'bad') AS bad_items
          FROM items_table GROUP BY plaid_institution_id
        ),
        ev AS (  -- item-bound calls (an item gone from items_table has no institution)
          SELECT e.plaid_institution_id AS institution, e.created_at, e.error_code, e.n
          FROM ({API_EVENTS_SQL}) e WHERE e.plaid_institution_id IS NOT NULL
        ),
        calls AS (
          SELECT institution,
                 sum(n) FILTER (WHERE created_at >= :start)::bigint AS calls,
                 sum(n) FILTER (WHERE created_at >= :start AND error_code IS NOT NULL)::bigint AS errors,
                 sum(n) FILTER (WHERE created_at >= :prev_start AND created_at < :start)::bigint AS prev_calls,
                 sum(n) FILTER (WHERE created_at >= :prev_start AND created_at < :start
                                AND error_code IS NOT NULL)::bigint AS prev_errors,
                 sum(n) FILTER (WHERE created_at >= :spike_base_start AND created_at < :start
                                AND error_code IS NOT NULL)::bigint AS baseline_errors
          FROM ev GROUP BY institution
        )
        SELECT it.institution AS plaid_institution_id, it.items, it.bad_items,
               coalesce(c.calls, 0) AS calls, coalesce(c.errors, 0) AS errors,
               coalesce(c.prev_calls, 0) AS prev_calls, coalesce(c.prev_errors, 0) AS prev_errors,
               coalesce(c.baseline_errors, 0) AS baseline_errors
        FROM items it LEFT JOIN calls c ON c.institution = it.institution
        ORDER BY coalesce(c.errors, 0) DESC, it.institution
        LIMIT :row_limit
        """,
        {**params, **rollup_params(base_start, window.end, engine, split=splits), "row_limit": row_limit + 1},
    )
    truncated = len(counts) > row_limit
    counts = counts.head(row_limit)
    if counts.empty:
        return InstitutionHealth(pd.DataFrame(columns=COLUMNS), None, window, False)

    top = read_frame(
        engine,
        f"""
        SELECT institution, error_code, n FROM (
          SELECT e.plaid_institution_id AS institution, e.error_code, sum(e.n)::bigint AS n,
                 row_number() OVER (PARTITION BY e.plaid_institution_id
                                    ORDER BY sum(e.n) DESC, e.error_code) AS rk
          FROM ({API_EVENTS_SQL}) e
          WHERE e.error_code IS NOT NULL AND e.plaid_institution_id IS NOT NULL
          GROUP BY e.plaid_institution_id, e.error_code
        ) t WHERE rk <= :top ORDER BY institution, rk LIMIT :row_limit
        """,
        {**rollup_params(window.start, window.end, engine), "top": TOP_CODES,
         "row_limit": (row_limit + 1) * TOP_CODES},
    )
    bucket_s = window.bucket.total_seconds()
    n_buckets = max(1, int(-(-window.duration.total_seconds() // bucket_s)))
    buckets = read_frame(
        engine,
        f"""
        SELECT institution, (extract(epoch FROM bucket_start - CAST(:start AS timestamptz)) / :bucket_s)::int AS b,
               calls, errors
        FROM (  -- group by a timestamp first: numeric epoch arithmetic on every row cost seconds
          SELECT e.plaid_institution_id AS institution,
                 date_bin(make_interval(secs => :bucket_s), e.created_at, CAST(:start AS timestamptz)) AS bucket_start,
                 sum(e.n)::bigint AS calls,
                 COALESCE(sum(e.n) FILTER (WHERE e.error_code IS NOT NULL), 0)::bigint AS errors
          FROM ({API_EVENTS_SQL}) e WHERE e.plaid_institution_id IS NOT NULL
          GROUP BY 1, 2
        ) per_bucket
        ORDER BY 1, 2 LIMIT :row_limit
        """,
        # Buckets count from the window's start: the hours (and days) a bucket
        # boundary cuts are read finer, every other hour or day from the rollups.
        {**window.params(), **rollup_params(window.start, window.end, engine, split=[
            window.start + k * window.bucket for k in range(1, n_buckets)]),
         "bucket_s": bucket_s, "row_limit": _TREND_ROW_LIMIT},
    )

    top_text: dict[str, list[str]] = {}
    for r in top.itertuples():
        top_text.setdefault(r.institution, []).append(f"{r.error_code} ({r.n})")
    trends: dict[str, list[float]] = {}
    for r in buckets.itertuples():
        series = trends.setdefault(r.institution, [0.0] * n_buckets)
        if 0 <= r.b < n_buckets:
            series[r.b] = round(100 * r.errors / r.calls, 1) if r.calls else 0.0

    window_hours = window.duration.total_seconds() / 3600
    rates = [int(e) / int(c) for e, c in zip(counts["errors"], counts["calls"], strict=True) if int(c)]
    median = statistics.median(rates) if rates else None
    names = resolve_names(engine, counts["plaid_institution_id"], fetch, demo=demo)

    rows = []
    for r in counts.itertuples():
        calls, errors = int(r.calls), int(r.errors)
        err_rate = _rate(errors, calls)
        ok_now = None if err_rate is None else 1 - err_rate
        prev_err = _rate(int(r.prev_errors), int(r.prev_calls))
        ok_before = None if prev_err is None else 1 - prev_err
        verdict = judge(errors, window_hours, int(r.baseline_errors), BASELINE_DAYS * 24)
        reasons = []
        if verdict.spike:
            reasons.append(("new: " if verdict.new else "spike: ") + verdict.reason)
        peer = (
            err_rate is not None
            and median is not None
            and errors >= MIN_ERRORS
            and err_rate >= PEER_FACTOR * median
            and err_rate > 0
        )
        if peer:
            ratio = f"{err_rate / median:.1f}×" if median else "far above"
            reasons.append(f"peers: error rate {err_rate:.1%} is {ratio} the median institution's {median:.1%}")
        rows.append(
            {
                "plaid_institution_id": r.plaid_institution_id,
                "name": names.get(r.plaid_institution_id, r.plaid_institution_id),
                "flagged": bool(reasons),
                "flag_reason": "; ".join(reasons),
                "items": int(r.items),
                "bad_items": int(r.bad_items),
                "share_bad": int(r.bad_items) / int(r.items) if int(r.items) else 0.0,
                "calls": calls,
                "errors": errors,
                "success_rate": ok_now,
                "prev_success_rate": ok_before,
                "change_pts": None if ok_now is None or ok_before is None else round((ok_now - ok_before) * 100, 2),
                "trend_label": _trend_label(ok_now, ok_before),
                "trend": trends.get(r.plaid_institution_id, [0.0] * n_buckets),
                "top_errors": ", ".join(top_text.get(r.plaid_institution_id, [])),
                "_err_rate": -1.0 if err_rate is None else err_rate,
            }
        )
    frame = pd.DataFrame(rows)
    # Worst first: flagged institutions, then by error rate and error count.
    frame = frame.sort_values(
        ["flagged", "_err_rate", "errors", "plaid_institution_id"], ascending=[False, False, False, True]
    ).drop(columns="_err_rate").reset_index(drop=True)
    return InstitutionHealth(frame[COLUMNS], median, window, truncated)
