"""Item & institution health: which items need the user, which institutions are failing.

Views live in the URL: ?view=Items|Institutions|Stale with their filters, and
?item=<plaid_item_id> opens one item's detail.
"""

import pandas as pd
import streamlit as st

from dashboard.health_rule import HEALTH_ORDER, RULE_TEXT, Health
from dashboard.institution_health import FLAG_RULE_TEXT, institution_health
from dashboard.institution_names import plaid_name_fetcher
from dashboard.item_health import (
    MAX_STALE_DAYS,
    InvalidItemId,
    admin_refresh_link,
    item_detail,
    list_items,
    stale_items,
)
from dashboard.page_links import HEALTH, investigate_url, item_url, page_url
from dashboard.ui import csv_download, empty_state, guarded, md_escape, page_setup, window_picker

ctx = page_setup("Item & institution health", "🩺")
st.title("Item & institution health")
# Names through Plaid's /institutions/get_by_id when real keys are configured (cached in the database).
fetch_names = plaid_name_fetcher(ctx.settings, ctx.engine)

window = window_picker()
window_args = {"window": window.key} if window.key != "custom" else {
    "window": "custom", "window_start": window.start.isoformat(), "window_end": window.end.isoformat()}


def _links(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(0, "detail", [item_url(i, **window_args) for i in frame["plaid_item_id"]])
    frame.insert(1, "investigate", [investigate_url(q=i) for i in frame["plaid_item_id"]])
    return frame


LINK_COLUMNS = {
    "detail": st.column_config.LinkColumn("Item", display_text="Open item"),
    "investigate": st.column_config.LinkColumn("Investigate", display_text="Investigate"),
}


def _when(at, missing: str = "—") -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at is not None else missing


def show_item(raw_id: str) -> None:
    st.link_button("← All items", page_url(HEALTH, **window_args))
    try:
        detail = guarded(item_detail, ctx.engine, raw_id, window, fetch=fetch_names, demo=ctx.demo_data)
    except InvalidItemId as exc:
        st.error(str(exc), icon="⚠️")
        return
    if detail is None:
        st.error(f"No item with plaid_item_id {md_escape(raw_id)} in this database.", icon="🔎")
        return
    ident, verdict = detail.identity, detail.verdict
    st.subheader(f"Item {md_escape(ident['plaid_item_id'])}")
    st.markdown(f"**Health: {verdict.health.value}** — {md_escape(verdict.explanation)}")
    box = st.success if verdict.health is Health.HEALTHY else st.warning
    box(f"Recommended next step: {verdict.next_step}", icon="👉")
    c = st.columns(4)
    c[0].metric("Stored status", ident["status"])
    c[1].metric("Consecutive failures", detail.state.consecutive_failures)
    c[2].metric("Calls in window", ident["window_calls"])
    c[3].metric("Errors in window", ident["window_errors"])
    st.markdown(
        f"Internal id **{ident['item_id']}** · institution **{md_escape(ident['institution_name'])}** "
        f"({md_escape(ident['plaid_institution_id'])}) · user **{ident['user_id']}** "
        f"({md_escape(ident['username'] or '—')}) · created {ident['created_at']:%Y-%m-%d} · "
        f"last success {_when(detail.state.last_success_at, 'none in the history')} · "
        f"last error {md_escape(detail.state.last_error_code or '—')} at {_when(detail.state.last_error_at)}"
    )
    st.link_button("Investigate this item", investigate_url(q=ident["plaid_item_id"]))
    st.markdown("#### Accounts")
    if detail.accounts.empty:
        empty_state("This item has no accounts stored.")
    else:
        st.dataframe(detail.accounts, hide_index=True, width="stretch")
    st.markdown(f"#### Error streaks ({window.label})")
    if detail.streaks.empty:
        empty_state("No failed calls in this window.")
    else:
        st.dataframe(detail.streaks, hide_index=True, width="stretch")
    st.markdown(f"#### Timeline: API calls and the user's Link events ({window.label})")
    if detail.timeline.empty:
        empty_state("No API calls or Link events in this window.", "Try a longer window.")
    else:
        st.dataframe(detail.timeline, hide_index=True, width="stretch")
        csv_download(detail.timeline, f"item-{ident['plaid_item_id']}-timeline.csv")


def show_items() -> None:
    f = st.columns(5)
    status = f[0].selectbox("Stored status", ["any", "good", "bad"], key="status", bind="query-params")
    health = f[1].selectbox("Health", ["any", *[h.value for h in HEALTH_ORDER]], key="health",
                            bind="query-params")
    institution = f[2].text_input("Institution id", key="institution", bind="query-params",
                                  placeholder="ins_109508")
    code = f[3].text_input("Error code", key="code", bind="query-params", placeholder="ITEM_LOGIN_REQUIRED")
    user = f[4].text_input("User (id or username)", key="user", bind="query-params")
    try:
        result = guarded(
            list_items, ctx.engine, window,
            status=None if status == "any" else status,
            health=None if health == "any" else health,
            institution=institution, error_code=code, user=user, fetch=fetch_names, demo=ctx.demo_data,
        )
    except ValueError as exc:
        st.error(str(exc), icon="⚠️")
        return
    if result.total == 0:
        empty_state("No items match these filters." if any(result.filters.values()) else "No items in this database.")
        return
    if result.headline():
        st.markdown(" · ".join(f"**{line}**" for line in result.headline()))  # our own sentences
    cols = st.columns(len(HEALTH_ORDER))
    for col, h in zip(cols, HEALTH_ORDER, strict=True):
        col.metric(h.value, result.counts.get(h, 0))
    with st.expander("How health is derived"):
        st.markdown(RULE_TEXT)
    if result.items.empty:
        empty_state(f"No items are '{health}' among {result.total} matching items.")
        return
    st.caption(f"{len(result.items)} item(s){' (first rows only)' if result.truncated else ''}, worst first; "
               f"errors and calls counted in {window.label}. Click a column header to sort.")
    st.dataframe(_links(result.items), hide_index=True, width="stretch", column_config=LINK_COLUMNS)
    csv_download(result.items, "item-health.csv")
    admin_link, exact = admin_refresh_link(result, None if health == "any" else health, window_args)
    st.link_button("Refresh these items on the admin page", admin_link, icon="🔐")
    if not exact:
        st.caption("Too many items to pass by id: the admin page gets the window, health, institution, status and "
                   "error-code filters instead and selects the items itself (the user filter is not carried).")


def show_institutions() -> None:
    res = guarded(institution_health, ctx.engine, window, fetch=fetch_names, demo=ctx.demo_data)
    frame = res.institutions
    if frame.empty:
        empty_state("No institutions: this database has no items.")
        return
    if res.window_calls == 0:
        empty_state(f"No Plaid calls in {window.label}: there is nothing to judge institutions by.",
                    "Pick a wider or more recent window.")
        return
    flagged = int(frame["flagged"].sum())
    st.markdown(f"**{flagged} institution(s) flagged** in {window.label}; median institution error rate "
                + (f"{res.median_error_rate:.1%}." if res.median_error_rate is not None else "n/a (no calls)."))
    with st.expander("How institutions are flagged"):
        st.markdown(md_escape(FLAG_RULE_TEXT))
    busiest = frame[frame["calls"] > 0].head(10)
    if not busiest.empty:
        worst = busiest.assign(error_rate=(100 * (1 - busiest["success_rate"])).round(1))
        st.bar_chart(worst, x="name", y="error_rate", x_label="error rate in window (%)", y_label="",
                     horizontal=True, sort="-error_rate", height=40 + 28 * len(worst))
    st.dataframe(
        frame, hide_index=True, width="stretch",
        column_order=["plaid_institution_id", "name", "flagged", "success_rate", "prev_success_rate", "change_pts",
                      "trend", "trend_label", "errors", "calls", "top_errors", "items", "bad_items", "share_bad",
                      "flag_reason"],
        column_config={
            "trend": st.column_config.LineChartColumn("Error rate trend (%)", y_min=0, y_max=100),
            "share_bad": st.column_config.NumberColumn("Share bad", format="percent"),
            "success_rate": st.column_config.NumberColumn("Success rate", format="percent"),
            "prev_success_rate": st.column_config.NumberColumn("Previous window", format="percent"),
        },
    )
    csv_download(frame.drop(columns="trend"), "institution-health.csv")


def show_stale() -> None:
    days = st.columns(4)[0].number_input("No successful call in the last N days", min_value=1,
                                         max_value=MAX_STALE_DAYS, value=7, step=1, key="stale_days",
                                         bind="query-params")
    st.caption("Counted back from now; the time window above does not apply to this view.")
    res = guarded(stale_items, ctx.engine, int(days), fetch=fetch_names, demo=ctx.demo_data)
    if res.items.empty:
        empty_state(f"No stale items: every item had a successful call in the last {res.days} day(s).")
        return
    st.markdown(f"**{res.total} item(s) without a successful call in the last {res.days} day(s)**"
                + (" (first rows shown)" if res.truncated else ""))
    st.dataframe(_links(res.items), hide_index=True, width="stretch", column_config=LINK_COLUMNS)
    csv_download(res.items, "stale-items.csv")


item_param = st.query_params.get("item")
if item_param is not None:
    show_item(item_param)
else:
    view = st.segmented_control("View", ["Items", "Institutions", "Stale"], default="Items", key="view",
                                bind="query-params") or "Items"
    {"Items": show_items, "Institutions": show_institutions, "Stale": show_stale}[view]()
