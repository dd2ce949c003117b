"""Investigate: one identifier in, a timeline and a Plaid ticket packet out.

URL: ?q=<identifier> (&kind= to pick one of several matches), ?event=<id>
(API event) or ?event=link-<id>, plus the filters other pages link with:
code, method, institution, triage, source (api|link), window, page.
"""

import streamlit as st

from dashboard import investigate
from dashboard.page_links import investigate_url
from dashboard.ticket import TicketPacket
from dashboard.ui import csv_download, empty_state, guarded, md_escape, page_setup, window_picker

ctx = page_setup("Investigate", "🔎")
st.title("Investigate")


def back_to_first_page() -> None:
    # a new identifier or filter starts again at page 1, not at the old page number
    st.session_state["page"] = 1


def sync_errors_param() -> None:
    # Kept in the URL by hand: a bound checkbox would write errors=true and
    # ignore the errors=1 that links carry.
    back_to_first_page()
    if st.session_state["errors_only"]:
        st.query_params["errors"] = "1"
    else:
        st.query_params.pop("errors", None)


q = st.text_input(
    "Identifier",
    key="q",
    on_change=back_to_first_page,
    bind="query-params",
    placeholder="request_id, link_session_id, plaid_item_id, item id, user id, username or ins_…",
)
with st.expander("Filters", expanded=any(st.query_params.get(k)
                                         for k in ("code", "method", "institution", "triage", "errors"))):
    c1, c2, c3 = st.columns(3)
    code = c1.text_input("Error code", key="code", on_change=back_to_first_page, bind="query-params")
    method = c2.text_input("Method", key="method", on_change=back_to_first_page, bind="query-params",
                           help="e.g. transactionsSync or Link exit")
    institution = c3.text_input("Institution id", key="institution", on_change=back_to_first_page, bind="query-params")
    errors_only = st.checkbox("Errors only", value=str(st.query_params.get("errors", "")).lower() in ("1", "true"),
                              key="errors_only", on_change=sync_errors_param,
                              help="Failed Plaid calls and Link errors; successes are hidden.")
window = window_picker(default="7d")
page_no = st.number_input("Page", min_value=1, max_value=investigate.MAX_ROWS // investigate.PAGE_SIZE,
                          key="page", bind="query-params", step=1)

request = investigate.Request(
    q=q,
    kind=st.query_params.get("kind"),
    event=st.query_params.get("event"),
    code=code,
    method=method,
    institution=institution,
    triage=st.query_params.get("triage"),
    source=st.query_params.get("source"),
    errors=errors_only,
    page=int(page_no or 1),
)
tz_name = st.context.timezone
result = guarded(investigate.run, ctx.engine, request, window, environment=ctx.settings.plaid_env, tz_name=tz_name)


def show_packet(packet: TicketPacket) -> None:
    st.subheader("Plaid ticket packet")
    if packet.ticket_advised:
        st.success(packet.advice, icon="🎫")
    else:
        st.warning(packet.advice, icon="✋")
    st.code(packet.to_text(), language=None)
    d1, d2 = st.columns(2)
    stem = f"plaid-ticket-{packet.event}"
    d1.download_button("Download JSON", packet.to_json(), file_name=f"{stem}.json", mime="application/json",
                       key="ticket_json", icon="⬇️")
    d2.download_button("Download Markdown", packet.to_markdown(), file_name=f"{stem}.md", mime="text/markdown",
                       key="ticket_md", icon="⬇️")


if result.view == "prompt":
    empty_state(
        "Paste one identifier from the complaint or alert.",
        "A request_id takes you straight to the event and its ticket packet.",
    )
elif result.view == "message":
    st.error(result.message, icon="⚠️")
elif result.view == "choose":
    st.info("That identifier matches more than one thing. Pick one:", icon="🔀")
    for m in result.matches:
        st.markdown(f"- [{md_escape(m.label)}]({investigate_url(m.value, kind=m.kind.value, window=window.key)})")
elif result.view == "event":
    ev = result.event
    st.subheader(f"Event {ev.ref}")
    st.caption(f"{ev.times(tz_name)} · link to this view: `{investigate_url(event=ev.ref)}`")
    left, right = st.columns(2)
    with left:
        st.markdown("**Columns**")
        st.table(investigate.as_field_table({k: v for k, v in ev.columns.items() if k != "arguments"}))
    with right:
        st.markdown("**Belongs to**")
        st.table(investigate.as_field_table(ev.context))
        if ev.context.get("plaid_item_id"):
            st.markdown(f"[Timeline of this item]({investigate_url(ev.context['plaid_item_id'], window=window.key)})")
        elif ev.columns.get("user_id") is not None:
            st.markdown(f"[Timeline of this user]({investigate_url(str(ev.columns['user_id']), kind='user id')})")
    if ev.source == "api":
        st.markdown("**arguments** (credentials redacted)")
        st.code(ev.arguments or "—", language="json")
    show_packet(result.packet)
else:  # timeline
    tl = result.timeline
    st.subheader(f"Timeline: {result.scope.description}")
    shown_filters = f" Filters: {result.filters.describe()}." if result.filters and result.filters.active else ""
    st.caption(f"{window.label}.{shown_filters} Times in UTC and your local time ({tz_name or 'UTC'}). Newest first.")
    if tl.rows.empty:
        empty_state("No events in this window.", "Try a longer window or fewer filters.")
    else:
        st.dataframe(
            tl.rows,
            hide_index=True,
            column_config={"event": st.column_config.LinkColumn("event", display_text="open")},
        )
        st.caption(f"Rows {tl.first_row}–{tl.first_row + len(tl.rows) - 1}"
                   + (" · more on the next page" if tl.has_next else ""))
        e1, e2 = st.columns(2)
        with e1:
            csv_download(tl.rows, "investigate-timeline-page.csv", label="Download this page (CSV)")
        # Built on request through guarded(), so a database failure here is a message, not a broken download.
        if e2.button(f"Prepare the newest {investigate.MAX_ROWS:,} (CSV)", key="csv_all_prepare"):
            full = guarded(investigate.timeline_csv, ctx.engine, result.scope, window, result.filters,
                           tz_name=tz_name)
            e2.download_button("Download the full export (CSV)", full, file_name="investigate-timeline.csv",
                               mime="text/csv", key="csv_all", icon="⬇️", on_click="ignore")
    if result.packet is not None:
        show_packet(result.packet)
