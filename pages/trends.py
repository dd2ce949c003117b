"""Error trends: Plaid API errors and Link analytics over a window; filters live in the URL."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.link_analytics import LinkReport, link_report
from dashboard.timewindow import TimeWindow
from dashboard.trends import (
    SPIKE_RULES,
    STACK_BY,
    TRIAGE_CLASSES,
    ApiFilters,
    ApiReport,
    api_filter_options,
    api_report,
    investigate_link,
    link_code_investigate_link,
    span,
)
from dashboard.ui import csv_download, empty_state, guarded, md_escape, page_setup, window_picker

ctx = page_setup("Error trends", "📈")
st.title("Error trends")


@st.cache_data(ttl=60, show_spinner="Aggregating Plaid API events…")
def _api(_engine, database: str, window: TimeWindow, filters: ApiFilters, stack_by: str) -> ApiReport:
    return api_report(_engine, window, filters, stack_by)


@st.cache_data(ttl=60, show_spinner="Aggregating Link events…")
def _link(_engine, database: str, window: TimeWindow) -> LinkReport:
    return link_report(_engine, window)


@st.cache_data(ttl=60, show_spinner=False)
def _options(_engine, database: str, window: TimeWindow) -> dict[str, list[str]]:
    return api_filter_options(_engine, window)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _pp_delta(now: float | None, before: float | None) -> str | None:
    if now is None or before is None or round((now - before) * 1000) == 0:
        return None  # st.metric draws "+0" as a rise in red
    return f"{(now - before) * 100:+.1f} pp"


def _count_delta(now: int, before: int) -> str | None:
    return None if now == before else f"{now - before:+,}"


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    # Naive timestamps would be drawn in the browser's time zone; the buckets are UTC.
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return df.assign(bucket=df["bucket"].dt.strftime(fmt), bucket_end=df["bucket_end"].dt.strftime(fmt))


def _stacked(df: pd.DataFrame, value: str, by: str) -> pd.DataFrame:
    # Vega-Lite cannot stack bars that span [bucket, bucket_end), so the stack is laid out here.
    df = df.sort_values(["bucket", by])
    top = df.groupby("bucket")[value].cumsum()
    return df.assign(y_top=top, y_bottom=top - df[value])


UTC_X = alt.X("bucket:T", title="UTC", scale=alt.Scale(type="utc"))
UTC_TIP = alt.Tooltip("utcyearmonthdatehoursminutes(bucket):T", title="Bucket (UTC)")


def _errors(n: int) -> str:
    return f"{n:,} error" + ("" if n == 1 else "s")


def _choices(values: list[str], key: str) -> list[str]:
    # A shared link may name a value this window has not seen; keep it selectable.
    current = st.query_params.get(key)
    return values + ([current] if current and current not in values else [])


TREND = st.column_config.LineChartColumn("Trend", y_min=0, help="Errors per bucket across the window")
WHEN = {
    "first_seen": st.column_config.DatetimeColumn("First seen (UTC)", format="YYYY-MM-DD HH:mm"),
    "last_seen": st.column_config.DatetimeColumn("Last seen (UTC)", format="YYYY-MM-DD HH:mm"),
}
SHARE = st.column_config.NumberColumn("Share", format="percent")
RATE = st.column_config.NumberColumn("Error rate", format="percent")
LINK = st.column_config.LinkColumn("Events", display_text="investigate →")

window = window_picker()
api_tab, link_tab = st.tabs(["Plaid API", "Link"])

with api_tab:
    options = guarded(_options, ctx.engine, ctx.database_label, window)
    c1, c2, c3, c4, c5 = st.columns([3, 4, 3, 3, 2])
    method = c1.selectbox("Method", _choices(options["method"], "method"), index=None, placeholder="All",
                          key="method", bind="query-params")
    code = c2.selectbox("Error code", _choices(options["code"], "code"), index=None, placeholder="All",
                        key="code", bind="query-params")
    institution = c3.selectbox("Institution", _choices(options["institution"], "institution"), index=None,
                               placeholder="All", key="institution", bind="query-params",
                               help="Plaid institution id; 'unknown' = calls without an item or of deleted items")
    triage_class = c4.selectbox("Triage class", list(TRIAGE_CLASSES), index=None, placeholder="All",
                                key="triage", bind="query-params")
    stack_by = c5.segmented_control("Stack chart by", list(STACK_BY), default="class", key="stack",
                                    bind="query-params") or "class"
    filters = ApiFilters(method=method, error_code=code, institution=institution, triage_class=triage_class)
    report = guarded(_api, ctx.engine, ctx.database_label, window, filters, stack_by)
    h = report.headline
    st.caption(f"{window.label} · compared with the {span(window.duration)} before · "
               f"buckets of {span(window.bucket)} (UTC)")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Calls", f"{h.calls:,}", delta=_count_delta(h.calls, h.prev_calls), delta_color="off")
    m2.metric("Errors", f"{h.errors:,}", delta=_count_delta(h.errors, h.prev_errors), delta_color="inverse")
    m3.metric("Error rate", _pct(h.error_rate), delta=_pp_delta(h.error_rate, h.prev_error_rate),
              delta_color="inverse")
    m4.metric("Items affected", f"{h.items_affected:,}", delta=_count_delta(h.items_affected, h.prev_items_affected),
              delta_color="inverse")

    if report.empty:
        empty_state("No Plaid API calls in this window" + (" match these filters." if filters != ApiFilters()
                                                           else "."),
                    "Pick a longer window or clear the filters.")
    else:
        st.subheader("Flagged")
        flagged = report.flagged
        if not flagged:
            st.success("Nothing flagged in this window.", icon="✅")
        for s in flagged:
            tags = " · ".join(t for t, on in (("spike", s.spike), ("new code", s.new), ("peer outlier", s.peer))
                              if on)
            arg = {"code": s.key} if s.kind == "error_code" else {"institution": s.key}
            st.warning(
                f"**{md_escape(s.label)}** ({'error code' if s.kind == 'error_code' else 'institution'}) — "
                f"{tags}: {_errors(s.window_errors)} in the window, {s.baseline_errors:,} in the 7 days "
                f"before; {md_escape(s.reason)}. [Matching events]({investigate_link(window, filters, **arg)})",
                icon="🚩",
            )
        with st.expander("How flags are decided"):
            for rule in SPIKE_RULES:
                st.markdown(f"- {rule}")

        st.subheader(f"Error rate over time, by {STACK_BY[stack_by]}")
        series = report.series
        errs = series[series["series"].notna()]
        if errs.empty:
            st.caption("No errors in this window.")
        else:
            chart = (
                alt.Chart(_utc(_stacked(errs, "error_rate", "series")))
                .mark_bar()
                .encode(
                    x=UTC_X,
                    x2="bucket_end:T",
                    y=alt.Y("y_top:Q", axis=alt.Axis(format="%"), title="Error rate"),
                    y2="y_bottom:Q",
                    color=alt.Color("series:N", title=STACK_BY[stack_by]),
                    tooltip=[UTC_TIP, "series:N", "errors:Q", "calls:Q",
                             alt.Tooltip("error_rate:Q", format=".1%")],
                )
            )
            st.altair_chart(chart, width="stretch")

        st.subheader("By error code")
        codes = report.codes.assign(
            events=[investigate_link(window, filters, code=k) for k in report.codes["key"]]
        )
        st.dataframe(
            codes[["key", "flag", "triage_class", "errors", "share", "items_affected", "trend",
                   "first_seen", "last_seen", "next_step", "error_type", "events"]],
            hide_index=True,
            column_config={"key": "Error code", "flag": "Flag", "triage_class": "Triage class",
                           "errors": "Errors", "share": SHARE, "items_affected": "Items affected",
                           "trend": TREND, **WHEN, "next_step": "Next step", "error_type": "Error type",
                           "events": LINK},
        )
        csv_download(report.codes, "error_codes.csv", key="csv_codes")

        left, right = st.columns(2)
        with left:
            st.subheader("By method")
            methods = report.methods.assign(
                events=[investigate_link(window, filters, method=k) for k in report.methods["key"]]
            )
            st.dataframe(
                methods[["key", "calls", "errors", "error_rate", "share", "items_affected", "trend",
                         "first_seen", "last_seen", "events"]],
                hide_index=True,
                column_config={"key": "Method", "calls": "Calls", "errors": "Errors", "error_rate": RATE,
                               "share": SHARE, "items_affected": "Items affected", "trend": TREND, **WHEN,
                               "events": LINK},
            )
            csv_download(report.methods, "methods.csv", key="csv_methods")
        with right:
            st.subheader("By institution")
            ins = report.institutions.assign(
                events=[investigate_link(window, filters, institution=k) for k in report.institutions["key"]]
            )
            st.dataframe(
                ins[["label", "flag", "calls", "errors", "error_rate", "share", "items_affected", "trend",
                     "first_seen", "last_seen", "events"]],
                hide_index=True,
                column_config={"label": "Institution", "flag": "Flag", "calls": "Calls", "errors": "Errors",
                               "error_rate": RATE, "share": SHARE, "items_affected": "Items affected",
                               "trend": TREND, **WHEN, "events": LINK},
            )
            csv_download(report.institutions, "institutions.csv", key="csv_institutions")

with link_tab:
    lr = guarded(_link, ctx.engine, ctx.database_label, window)
    lh = lr.headline
    st.caption(f"{window.label} · the API filters do not apply here (Link events have no method or institution)")
    l1, l2, l3, l4, l5 = st.columns(5)
    l1.metric("Link sessions", f"{lh.sessions:,}", delta=_count_delta(lh.sessions, lh.prev_sessions), delta_color="off")
    l2.metric("Successes", f"{lh.successes:,}", delta=_count_delta(lh.successes, lh.prev_successes))
    l3.metric("Conversion", _pct(lh.conversion), delta=_pp_delta(lh.conversion, lh.prev_conversion))
    l4.metric("Exits with error", f"{lh.exits_with_error:,}",
              delta=_count_delta(lh.exits_with_error, lh.prev_exits_with_error), delta_color="inverse")
    l5.metric("Exits without error", f"{lh.exits_without_error:,}",
              delta=_count_delta(lh.exits_without_error, lh.prev_exits_without_error), delta_color="inverse")
    if lr.empty:
        empty_state("No Link sessions in this window.", "Pick a longer window.")
    else:
        st.subheader("Conversion over time")
        s = _utc(lr.series)
        base = alt.Chart(s).encode(x=UTC_X)
        outcomes = _stacked(s.melt(id_vars=["bucket", "bucket_end"],
                                   value_vars=["successes", "exits_with_error", "exits_without_error"],
                                   var_name="outcome", value_name="count"), "count", "outcome")
        st.altair_chart(
            alt.layer(
                alt.Chart(outcomes).mark_bar(opacity=0.6).encode(
                    x=UTC_X,
                    x2="bucket_end:T",
                    y=alt.Y("y_top:Q", title="Events"),
                    y2="y_bottom:Q",
                    color=alt.Color("outcome:N", title="Outcome"),
                    tooltip=[UTC_TIP, "outcome:N", "count:Q"],
                ),
                base.mark_line(color="black", point=True).encode(
                    y=alt.Y("conversion:Q", axis=alt.Axis(format="%"), title="Conversion"),
                    tooltip=[UTC_TIP, "sessions:Q", "successes:Q", alt.Tooltip("conversion:Q", format=".1%")],
                ),
            ).resolve_scale(y="independent"),
            width="stretch",
        )
        left, right = st.columns(2)
        with left:
            st.subheader("Exit status")
            st.dataframe(
                lr.statuses[["key", "exits", "with_error", "share", "trend", "first_seen", "last_seen", "hint"]],
                hide_index=True,
                column_config={"key": "Exit status", "exits": "Exits", "with_error": "With error",
                               "share": SHARE, "trend": st.column_config.LineChartColumn("Trend", y_min=0),
                               **WHEN, "hint": "What it means"},
            )
            csv_download(lr.statuses, "link_exit_statuses.csv", key="csv_link_status")
        with right:
            st.subheader("Link error codes")
            if lr.codes.empty:
                st.caption("No Link exits with an error in this window.")
            else:
                st.dataframe(
                    lr.codes.assign(events=[link_code_investigate_link(window, k) for k in lr.codes["key"]])[
                        ["key", "triage_class", "exits", "share", "sessions", "trend", "first_seen",
                         "last_seen", "next_step", "error_type", "events"]],
                    hide_index=True,
                    column_config={"key": "Error code", "triage_class": "Triage class", "exits": "Exits",
                                   "share": SHARE, "sessions": "Sessions",
                                   "trend": st.column_config.LineChartColumn("Trend", y_min=0), **WHEN,
                                   "next_step": "Next step", "error_type": "Error type", "events": LINK},
                )
            csv_download(lr.codes, "link_error_codes.csv", key="csv_link_codes")
