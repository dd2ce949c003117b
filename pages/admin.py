"""Admin: logged Plaid refreshes for one item or a batch. Access is checked first, here."""

import pandas as pd
import streamlit as st

from dashboard import audit, batches
from dashboard.health_rule import HEALTH_ORDER
from dashboard.plaid_client import LogWriteError, make_client
from dashboard.refresh_actions import ACTIONS, ActionNotAllowed
from dashboard.ui import csv_download, empty_state, guarded, md_escape, page_setup, window_picker

ctx = page_setup("Admin: Plaid refreshes", "🔐", admin=True)
st.title("Admin: Plaid refreshes")
client = make_client(ctx.settings, ctx.engine)
actor = ctx.access.actor if ctx.access else "unknown"
if client.simulated:
    st.warning(
        "**Plaid is simulated.** No credentials are configured, so every call goes to a local stand-in "
        "that imitates Plaid (healthy items, login required, institution down, rate limits, errors). "
        "Calls are still logged to plaid_api_events_table.",
        icon="🧪",
    )
elif client.plaid_env == "production":
    st.error("**Production Plaid.** Actions here reach real banks and billed calls cost money.", icon="🚨")
st.caption(f"Signed in as **{actor}**. Every action is audited.")

window = window_picker(default="24h")

st.subheader("1 · Choose items")
listed, malformed = batches.check_item_list(batches.parse_item_list(st.query_params.get("items")))
c1, c2, c3, c4 = st.columns(4)
institution = c1.text_input("Institution id", key="institution", bind="query-params", placeholder="ins_109508")
status = c2.selectbox("Item status", ["", "good", "bad"], key="status", bind="query-params",
                      format_func=lambda v: v or "any")
error_code = c3.text_input("Error code seen in the window", key="code", bind="query-params",
                           placeholder="ITEM_LOGIN_REQUIRED")
health = c4.selectbox("Health in the window", ["", *[h.value for h in HEALTH_ORDER]], key="health",
                      bind="query-params", help="Derived as on the health page, as of the window's end.",
                      format_func=lambda v: v or "any")
if malformed:
    st.error("Some `?items=` entries are not item ids and were ignored: " + md_escape("; ".join(malformed)), icon="⚠️")
if listed:
    st.info(f"{len(listed)} item(s) passed in the link (`?items=`, internal ids or plaid_item_ids); "
            "other filters narrow them further.", icon="🔗")
    missing = guarded(batches.missing_items, ctx.engine, listed)
    if missing:
        st.warning(f"{len(missing)} of them match no item: " + ", ".join(f"`{m}`" for m in missing[:20]), icon="🔍")
criteria = batches.BatchCriteria(
    institution=(institution or "").strip() or None,
    status=status or None,
    error_code=(error_code or "").strip().upper() or None,
    window=window,
    plaid_item_ids=listed,
    health=health or None,
)
try:
    items = guarded(batches.select_items, ctx.engine, criteria)
except ValueError as exc:
    st.error(str(exc), icon="⚠️")
    st.stop()
plan = None
if criteria.empty:
    empty_state("Pick items first: filter by institution, status, error code or health, or open this page "
                "from the health list with `?items=`.")
elif not items:
    empty_state("No item matches these filters.")
else:
    st.subheader("2 · Choose the action and confirm")
    allowed = [k for k, a in ACTIONS.items() if not (a.sandbox_only and client.plaid_env != "sandbox")]
    action = st.selectbox("Action", allowed, format_func=lambda k: ACTIONS[k].label, key="admin_action")
    try:
        plan = batches.plan_batch(action, items, client.plaid_env)
    except ActionNotAllowed as exc:
        st.error(str(exc))

if plan is not None:
    m1, m2, m3 = st.columns(3)
    m1.metric("Items", plan.count)
    m2.metric("Billed calls", plan.billed_calls, help="Transactions refresh and balance are billed per call.")
    m3.metric("Minimum duration", f"{plan.min_duration_s / 60:.0f} min" if plan.min_duration_s else "< 1 min",
              help="Plaid's per-client rate limit alone needs this long; calls are paced to stay within it.")
    st.dataframe(pd.DataFrame([{"plaid_item_id": i.plaid_item_id, "institution": i.institution,
                                "status": i.status} for i in plan.items]), hide_index=True, height=200)
    label = ACTIONS[plan.action].label
    confirmed = st.checkbox(f"I confirm {plan.count} × {label}, {plan.billed_calls} billed call(s).",
                            key="admin_confirm")
    production_ok = True
    if client.plaid_env == "production":
        typed = st.text_input("Production: type PRODUCTION to confirm", key="admin_prod_confirm")
        production_ok = typed.strip() == "PRODUCTION"
    run_again = st.checkbox(
        "Repeat anyway", key="admin_run_again",
        help=f"The same batch (same action, same items) is refused for {batches.REPEAT_AFTER_S // 60} minutes "
             "after it finished, so a second tab or a late click does not repeat it. Tick to repeat it on purpose.")
    if st.button("Run", type="primary", disabled=not (confirmed and production_ok), key="admin_run"):
        cancel_slot = st.empty()
        cancel_slot.button("Cancel", key="admin_cancel", on_click=st.session_state.__setitem__,
                           args=("admin_show_newest", True),
                           help="Calls in flight finish and are logged; the rest are skipped.")
        bar = st.progress(0.0, text=f"0 / {plan.count}")

        def show_batch(batch_id: int) -> None:
            # Results below (and after a Cancel rerun) show this batch.
            st.session_state["admin_batch"] = batch_id

        def progress(done: int, total: int, last: object) -> None:
            bar.progress(done / max(total, 1), text=f"{done} / {total}")

        try:
            outcome = batches.run_batch(client, plan, actor, on_progress=progress,
                                        production_confirmed=production_ok, on_claimed=show_batch,
                                        run_again=run_again)
            cancel_slot.empty()
            summary = f"Batch {outcome.state}: " + ", ".join(f"{v} {k}" for k, v in sorted(outcome.summary.items()))
            # Any failed item deserves a second look: not a green box.
            (st.warning if outcome.summary.get("error") else st.success)(summary)
        except (batches.BatchAlreadyRunning, batches.BatchRecentlyRun) as exc:
            cancel_slot.empty()
            st.warning(str(exc), icon="⏳")
        except LogWriteError as exc:
            st.error(str(exc), icon="🛑")


def results_and_audit(was_running: bool) -> None:
    recent = guarded(batches.recent_batches, ctx.engine, window)
    running = bool((recent["state"] == "running").any()) if not recent.empty else False
    if was_running and not running:
        st.rerun()  # back to a full run, which stops the auto-refresh
    st.subheader("3 · Results")
    if recent.empty:
        empty_state("No batch ran in this window.")
    else:
        ids = recent["id"].tolist()
        if st.session_state.pop("admin_show_newest", False) or st.session_state.get("admin_batch") not in ids:
            st.session_state["admin_batch"] = ids[0]
        chosen = st.selectbox("Batch", ids, key="admin_batch",
                              format_func=lambda b: " · ".join(
                                  str(v) for v in recent.loc[recent["id"] == b,
                                                             ["id", "action", "actor", "started_at"]].iloc[0]))
        row = recent.loc[recent["id"] == chosen].iloc[0]
        if row["state"] == "running":
            st.info(f"Batch {chosen} is running: {row['done']} of {row['total']} done. "
                    "This view refreshes every 2 s.", icon="⏳")
        else:
            st.caption(f"Batch {chosen}: {row['state']}, {row['done']} of {row['total']} items.")
        results = pd.DataFrame(guarded(batches.batch_results, ctx.engine, int(chosen)))
        if results.empty:
            empty_state("This batch has no results yet.")
        else:
            st.dataframe(results, hide_index=True)
            csv_download(results, f"batch-{chosen}.csv", key="admin_results_csv")

    st.subheader("Audit trail")
    trail = guarded(audit.audit_frame, ctx.engine, window)
    if trail.empty:
        empty_state("No admin action in this window.")
    else:
        st.dataframe(trail, hide_index=True)
        csv_download(trail, "admin-audit.csv", key="admin_audit_csv")


# A cancelled (or other tab's) batch finishes after this run has drawn the page:
# while one is running, the results and the audit refresh themselves.
running_now = guarded(batches.running_count, ctx.engine) > 0
st.fragment(results_and_audit, run_every="2s" if running_now else None)(running_now)
