"""Batches: selection, pricing, a 500-item run within the limits, double-run refusal,
backoff on RATE_LIMIT_EXCEEDED, cancel, and the audit rows they leave."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from admin_helpers import add_items, client_for, events
from sqlalchemy import text

from dashboard import audit
from dashboard.batches import (
    BatchAlreadyRunning,
    BatchCriteria,
    BatchRecentlyRun,
    ProductionNotConfirmed,
    batch_results,
    claim_batch,
    parse_item_list,
    plan_batch,
    run_batch,
    select_items,
)
from dashboard.plaid_standin import PlaidStandin, StandinState
from dashboard.rate_limits import RateLimiter
from dashboard.timewindow import resolve_window, utc_now


@pytest.fixture()
def standin():
    server = PlaidStandin(StandinState(slow_seconds=1.0))
    yield server
    server.close()


def _audit_rows(db):
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT actor, action, plaid_env, item_ids, outcome, request_ids, details FROM dashboard_audit_log "
            "ORDER BY id"))]


def test_selection_by_filters_and_explicit_list(db):
    ids = add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1"), ("p2", "access-sandbox-healthy-2", "ins_1"),
                         ("p3", "access-sandbox-healthy-3", "ins_2")])
    with db.begin() as conn:
        conn.execute(text("UPDATE items_table SET status = 'bad' WHERE id = :i"), {"i": ids["p2"]})
        conn.execute(text("INSERT INTO plaid_api_events_table (item_id, plaid_method, error_type, error_code, "
                          "created_at) VALUES "
                          "(:a, 'itemGet', 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', now() - interval '1 hour'), "
                          "(:b, 'itemGet', 'ITEM_ERROR', 'ITEM_LOGIN_REQUIRED', now() - interval '3 days')"),
                     {"a": ids["p1"], "b": ids["p3"]})
    pick = lambda **kw: [i.plaid_item_id for i in select_items(db, BatchCriteria(**kw))]  # noqa: E731
    window = resolve_window("24h")
    assert pick() == []  # no criterion never means "every item"
    assert pick(institution="ins_1") == ["p1", "p2"]
    assert pick(institution="ins_1", status="bad") == ["p2"]
    assert pick(error_code="ITEM_LOGIN_REQUIRED", window=window) == ["p1"]
    assert pick(error_code="ITEM_LOGIN_REQUIRED", window=resolve_window("7d")) == ["p1", "p3"]
    assert pick(plaid_item_ids=parse_item_list("p3, p1,,p3")) == ["p1", "p3"]
    assert pick(item_ids=(ids["p2"], ids["p3"]), institution="ins_2") == ["p3"]
    assert pick(item_ids=()) == []
    with pytest.raises(ValueError):
        select_items(db, BatchCriteria(error_code="X"))


def test_plan_counts_billed_calls(db):
    ids = add_items(db, [(f"p{k}", f"access-sandbox-healthy-{k}", "ins_1") for k in range(250)])
    items = select_items(db, BatchCriteria(plaid_item_ids=tuple(ids)))
    assert plan_batch("transactions_refresh", items, "sandbox").billed_calls == 250
    assert plan_batch("balance_refresh", items, "sandbox").billed_calls == 250
    assert plan_batch("item_status", items, "sandbox").billed_calls == 0
    # 250 refreshes at 100/min per client: at least two more minutes after the first hundred.
    assert plan_batch("transactions_refresh", items, "sandbox").min_duration_s == 120.0


@pytest.mark.parametrize(("action", "endpoint", "method"), [
    ("item_status", "/item/get", "itemGet"),
    ("balance_refresh", "/accounts/balance/get", "accountsBalanceGet"),
])
def test_500_item_batch_logs_every_call_once_within_the_limits(db, standin, action, endpoint, method):
    ids = add_items(db, [(f"p{k:03d}", f"access-sandbox-healthy-{k:03d}", "ins_1") for k in range(500)])
    client = client_for(db, standin)
    plan = plan_batch(action, select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
    progress: list[int] = []
    started = time.monotonic()
    outcome = run_batch(client, plan, "tester", concurrency=8, limiter=RateLimiter(),
                        on_progress=lambda done, total, last: progress.append(done))
    elapsed = time.monotonic() - started
    assert outcome.state == "finished" and outcome.summary == {"ok": 500}
    rows = events(db)
    assert len(rows) == 500
    assert sorted(r["item_id"] for r in rows) == sorted(ids.values())  # each item exactly once
    assert {r["plaid_method"] for r in rows} == {method} and all(r["error_code"] is None for r in rows)
    assert len({r["request_id"] for r in rows}) == 500
    stats = standin.state.stats
    assert stats.calls[endpoint] == 500 and stats.rate_limited.get(endpoint, 0) == 0
    assert stats.max_item_per_minute[endpoint] == 1
    assert progress[-1] == 500 and progress == sorted(progress)
    [a] = _audit_rows(db)
    assert (a["actor"], a["action"], a["outcome"]) == ("tester", action, "finished: 500 ok")
    assert sorted(a["item_ids"]) == sorted(ids.values()) and len(a["request_ids"]) == 500
    assert a["details"]["calls"] == 500 and a["details"]["billed_calls"] == plan.billed_calls
    print(f"\n500-item {action} batch: {elapsed:.1f} s, {stats.calls[endpoint]} calls, "
          f"{stats.rate_limited.get(endpoint, 0)} rate limited, "
          f"peak {stats.max_client_per_minute[endpoint]} calls/min per client")


def test_batch_paces_itself_to_the_per_client_limit(db):
    # A stand-in with tiny limits (3/min per client) and a limiter that knows them:
    # the batch waits instead of hitting 429s. Window shrunk to keep the test short.
    import dashboard.plaid_standin as ps

    limits = {"/transactions/refresh": (2, 3, "TRANSACTIONS_REFRESH_LIMIT")}
    server = PlaidStandin(StandinState(rate_limits=limits))
    old = ps.RATE_WINDOW_S
    ps.RATE_WINDOW_S = 2.0
    try:
        add_items(db, [(f"p{k}", f"access-sandbox-healthy-{k}", "ins_1") for k in range(7)])
        plan = plan_batch("transactions_refresh", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
        limiter = RateLimiter({"/transactions/refresh": (2, 3)}, window_s=2.0, margin_s=0.2)
        started = time.monotonic()
        outcome = run_batch(client_for(db, server), plan, "tester", concurrency=4, limiter=limiter)
        elapsed = time.monotonic() - started
    finally:
        ps.RATE_WINDOW_S = old
        server.close()
    assert outcome.summary == {"ok": 7}
    assert server.state.stats.rate_limited.get("/transactions/refresh", 0) == 0
    assert len(events(db)) == 7
    assert elapsed >= 4.0  # 7 calls at 3 per 2.2 s need two waits


def test_batch_backs_off_on_rate_limit_exceeded(db):
    # The limiter does not know the server's limit (e.g. another process shares the client id):
    # 429s come back, the batch backs off and retries, and every try is logged.
    import dashboard.plaid_standin as ps

    server = PlaidStandin(StandinState(rate_limits={"/item/get": (15, 2, "ITEM_GET_LIMIT")}))
    old = ps.RATE_WINDOW_S
    ps.RATE_WINDOW_S = 1.0
    try:
        add_items(db, [(f"p{k}", f"access-sandbox-healthy-{k}", "ins_1") for k in range(4)])
        plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
        sleeps: list[float] = []

        def sleep(s: float) -> None:
            sleeps.append(s)
            time.sleep(0.6)  # enough for the 1 s window to roll on the second try at most

        outcome = run_batch(client_for(db, server), plan, "tester", concurrency=4, limiter=RateLimiter({}),
                            sleep=sleep)
    finally:
        ps.RATE_WINDOW_S = old
        server.close()
    assert outcome.summary == {"ok": 4}
    limited = server.state.stats.rate_limited["/item/get"]
    assert limited >= 2 and len(sleeps) == limited
    rows = events(db)
    assert len(rows) == 4 + limited
    assert sum(r["error_code"] == "ITEM_GET_LIMIT" for r in rows) == limited
    assert sum(r.rate_limited for r in outcome.results) == limited


def test_same_batch_cannot_run_twice(db, standin):
    add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1"), ("p2", "access-sandbox-healthy-2", "ins_1")])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
    client = client_for(db, standin)
    claim_batch(db, plan, "tab-one")  # another tab holds it
    with pytest.raises(BatchAlreadyRunning):
        run_batch(client, plan, "tab-two", limiter=RateLimiter())
    assert events(db) == []
    assert [a["outcome"] for a in _audit_rows(db)] == ["refused: same batch already running"]
    # A different action on the same items is another batch and may run.
    assert run_batch(client, plan_batch("transactions_sync", plan.items, "sandbox"), "tab-two",
                     limiter=RateLimiter()).state == "finished"


def test_double_click_race_runs_once(db, standin):
    add_items(db, [(f"p{k}", f"access-sandbox-slow-{k}", "ins_1") for k in range(3)])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
    client = client_for(db, standin)
    outcomes: list[str] = []

    def click() -> None:
        try:
            outcomes.append(run_batch(client, plan, "clicker", limiter=RateLimiter()).state)
        except BatchAlreadyRunning:
            outcomes.append("refused")

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["finished", "refused"]
    assert len(events(db)) == 3


def test_second_tab_does_not_repeat_a_batch_that_just_finished(db, standin):
    # Two tabs confirmed the same batch; B presses Run just after A finished.
    add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1"), ("p2", "access-sandbox-healthy-2", "ins_1")])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
    client = client_for(db, standin)
    assert run_batch(client, plan, "tab-a", limiter=RateLimiter()).state == "finished"
    with pytest.raises(BatchRecentlyRun, match="Repeat anyway"):
        run_batch(client, plan, "tab-b", limiter=RateLimiter())
    assert len(events(db)) == 2
    assert [a["outcome"] for a in _audit_rows(db)][-1] == "refused: same batch just ran"
    # Other items or another action are other batches.
    assert run_batch(client, plan_batch("transactions_sync", plan.items, "sandbox"), "tab-b",
                     limiter=RateLimiter()).state == "finished"
    # Ticking "run again" is the explicit way to repeat it.
    assert run_batch(client, plan, "tab-b", limiter=RateLimiter(), run_again=True).state == "finished"
    assert sum(e["plaid_method"] == "itemGet" for e in events(db)) == 4
    # Once the batch is older than the repeat window it may run again without the tick.
    with db.begin() as conn:
        conn.execute(text("UPDATE dashboard_admin_batches SET finished_at = now() - interval '11 minutes'"))
    assert run_batch(client, plan, "tab-b", limiter=RateLimiter()).state == "finished"


def test_stale_running_batch_does_not_block_forever(db, standin):
    add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1")])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")
    claim_batch(db, plan, "crashed-process")
    with db.begin() as conn:
        conn.execute(text("UPDATE dashboard_admin_batches SET heartbeat_at = now() - interval '10 minutes'"))
    assert run_batch(client_for(db, standin), plan, "me", limiter=RateLimiter()).state == "finished"
    with db.connect() as conn:
        assert conn.execute(text("SELECT state FROM dashboard_admin_batches ORDER BY id")).scalars().all() == [
            "abandoned", "finished"]


def test_cancel_from_progress_callback_stops_the_rest(db, standin):
    add_items(db, [(f"p{k:02d}", f"access-sandbox-healthy-{k:02d}", "ins_1") for k in range(40)])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "sandbox")

    class StopPressed(Exception):
        pass

    def on_progress(done, total, last):
        if done >= 5:
            raise StopPressed()  # what Streamlit does when Cancel interrupts the script

    # Pace to 1 call per item per 10 s per client-window of 5: the batch cannot finish before the cancel.
    limiter = RateLimiter({"/item/get": (15, 5)}, window_s=30.0, margin_s=0.0)
    with pytest.raises(StopPressed):
        run_batch(client_for(db, standin), plan, "me", concurrency=4, limiter=limiter, on_progress=on_progress)
    logged = len(events(db))
    assert 5 <= logged < 40
    [a] = _audit_rows(db)
    assert a["outcome"] == f"cancelled: {40 - logged} cancelled, {logged} ok"
    with db.connect() as conn:
        bid, state = conn.execute(text("SELECT id, state FROM dashboard_admin_batches")).one()
    assert state == "cancelled"
    results = batch_results(db, bid)
    assert len(results) == 40 and sum(r["outcome"] == "ok" for r in results) == logged


def test_production_needs_confirmation(db, standin):
    add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1")])
    plan = plan_batch("item_status", select_items(db, BatchCriteria(institution="ins_1")), "production")
    client = client_for(db, standin, plaid_env="production")
    with pytest.raises(ProductionNotConfirmed):
        run_batch(client, plan, "me", limiter=RateLimiter())
    assert events(db) == []
    assert run_batch(client, plan, "me", limiter=RateLimiter(), production_confirmed=True).state == "finished"


def test_audit_frame_lists_actions_in_window(db):
    ids = add_items(db, [("p1", "access-sandbox-healthy-1", "ins_1")])
    audit.record(db, actor="a@example.com", action="item_status", plaid_env="sandbox", item_ids=[ids["p1"]],
                 outcome="finished: 1 ok", request_ids=["req1"],
                 details={"note": "token access-sandbox-0123456789-abcdef"})
    now = utc_now()
    frame = audit.audit_frame(db, resolve_window("custom", now - timedelta(hours=1), now + timedelta(hours=1)))
    assert frame[["actor", "action", "outcome", "items", "plaid_item_ids", "request_ids"]].values.tolist() == [
        ["a@example.com", "item_status", "finished: 1 ok", 1, "p1", "req1"]]
    assert "access-sandbox" not in frame["details"][0]
