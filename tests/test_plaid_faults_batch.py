"""Plaid faults in the middle of a batch: a timeout, a 500, a 429 that never
clears, and malformed JSON, between healthy items. Every call is logged, the
batch goes on to the last item, and the summary counts are right.
"""

from __future__ import annotations

from admin_helpers import client_for
from plaid_faults import FAULT_INSTITUTION, FAULT_ITEMS, add_fault_items, logged_calls
from sqlalchemy import text

from dashboard import batches
from dashboard.plaid_standin import PlaidStandin, StandinState
from dashboard.rate_limits import RateLimiter
from dashboard.refresh_actions import MAX_RATE_LIMIT_RETRIES


def test_faults_mid_batch_are_logged_and_the_batch_goes_on(db):
    ids = add_fault_items(db)
    # The slow item answers after 2 s; the client gives up reading after 0.5 s.
    with PlaidStandin(StandinState(slow_seconds=2.0)) as standin:
        client = client_for(db, standin, timeout=(2.0, 0.5))
        items = batches.select_items(db, batches.BatchCriteria(institution=FAULT_INSTITUTION))
        assert [i.plaid_item_id for i in items] == [pid for _, pid in FAULT_ITEMS]  # faults mid-batch
        plan = batches.plan_batch("item_status", items, "sandbox")
        backoffs: list[float] = []
        outcome = batches.run_batch(client, plan, "fault-test", concurrency=1, limiter=RateLimiter(),
                                    sleep=backoffs.append)

    assert outcome.state == "finished"
    assert outcome.summary == {"ok": 3, "error": 4}
    by_item = {r.plaid_item_id: r for r in outcome.results}
    assert [r.plaid_item_id for r in outcome.results] == [pid for _, pid in FAULT_ITEMS]
    expected_codes = {
        "fault-lab-item-1-healthy": None,
        "fault-lab-item-2-healthy": None,
        "fault-lab-item-3-slow": "CLIENT_TIMEOUT",
        "fault-lab-item-4-server-error": "INTERNAL_SERVER_ERROR",
        "fault-lab-item-5-rate-limited": "RATE_LIMIT",
        "fault-lab-item-6-malformed": "CLIENT_MALFORMED_RESPONSE",
        "fault-lab-item-7-healthy": None,
    }
    assert {pid: r.error_code for pid, r in by_item.items()} == expected_codes
    assert by_item["fault-lab-item-7-healthy"].outcome == "ok"  # the batch went on past the faults

    # Every call has its row: one per item, and 1 + retries for the 429 item.
    calls = logged_calls(db, [iid for iid, _ in ids.values()])
    retries = MAX_RATE_LIMIT_RETRIES
    for pid, (iid, _) in ids.items():
        n = 1 + retries if "rate-limited" in pid else 1
        assert calls[iid] == [("itemGet", expected_codes[pid])] * n, (pid, calls[iid])
        assert by_item[pid].calls == n
    assert backoffs == [2.0, 4.0, 8.0][:retries]  # exponential backoff between the 429 retries

    # The batch and its audit row carry the same summary.
    with db.connect() as conn:
        state, done, total = conn.execute(
            text("SELECT state, done, total FROM dashboard_admin_batches WHERE id = :id"), {"id": outcome.batch_id}
        ).one()
        audit_outcome = conn.execute(
            text("SELECT outcome FROM dashboard_audit_log WHERE id = :id"), {"id": outcome.audit_id}
        ).scalar_one()
    assert (state, done, total) == ("finished", 7, 7)
    assert audit_outcome == "finished: 4 error, 3 ok"
