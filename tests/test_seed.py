"""The demo seed: Pattern-shaped rows, deterministic, with its stories, never twice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from dashboard.database import make_engine
from dashboard.seed import SeedRefused, Stories, seed, seeded_stories
from tests.conftest import SEED_EVENTS

ANCHOR = datetime(2026, 3, 8, 12, tzinfo=timezone.utc)


def _fingerprint(engine) -> tuple:
    with engine.connect() as conn:
        return tuple(
            conn.execute(text(
                f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
            )).one()
            for table in ("users_table", "items_table", "accounts_table",
                          "plaid_api_events_table", "link_events_table")
        )


def test_same_seed_same_rows_and_refuses_to_seed_twice(new_database):
    a, b, c = (make_engine(new_database()) for _ in range(3))
    seed(a, events=5000, seed_value=3, anchor=ANCHOR)
    seed(b, events=5000, seed_value=3, anchor=ANCHOR)
    seed(c, events=5000, seed_value=4, anchor=ANCHOR)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)
    before = _fingerprint(a)
    with pytest.raises(SeedRefused, match="already seeded"):
        seed(a, events=5000, seed_value=3, anchor=ANCHOR)
    assert _fingerprint(a) == before


def test_refuses_a_database_that_holds_real_data(db):
    with db.begin() as conn:
        conn.execute(text("INSERT INTO users_table (username) VALUES ('real-user')"))
    with pytest.raises(SeedRefused, match="1 rows in users_table"):
        seed(db, events=5000)
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users_table")).scalar_one() == 1


def test_rows_have_pattern_shapes(seeded):
    with seeded.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM plaid_api_events_table")).scalar_one()
        # Success: NULL request_id and error fields (Pattern's logger quirk).
        bad_success = conn.execute(text(
            "SELECT count(*) FROM plaid_api_events_table WHERE error_code IS NULL "
            "AND (request_id IS NOT NULL OR error_type IS NOT NULL)")).scalar_one()
        bad_failure = conn.execute(text(
            "SELECT count(*) FROM plaid_api_events_table WHERE error_code IS NOT NULL "
            "AND (request_id IS NULL OR error_type IS NULL)")).scalar_one()
        tokenless = conn.execute(text(
            "SELECT count(*) FROM plaid_api_events_table WHERE plaid_method IN "
            "('linkTokenCreate','itemPublicTokenExchange','institutionsGet','institutionsGetById') "
            "AND (item_id IS NOT NULL OR user_id IS NOT NULL)")).scalar_one()
        sample = conn.execute(text(
            "SELECT e.arguments, i.plaid_access_token FROM plaid_api_events_table e "
            "JOIN items_table i ON i.id = e.item_id WHERE e.plaid_method = 'transactionsSync' LIMIT 1")).one()
        methods = set(conn.execute(text("SELECT DISTINCT plaid_method FROM plaid_api_events_table")).scalars())
        institutions = conn.execute(text("SELECT count(DISTINCT plaid_institution_id) FROM items_table")).scalar_one()
        window = conn.execute(text(
            "SELECT min(created_at), max(created_at) FROM plaid_api_events_table")).one()
        link_kinds = conn.execute(text(
            "SELECT count(*) FILTER (WHERE type = 'success'), "
            "count(*) FILTER (WHERE type = 'exit' AND error_code IS NULL AND request_id IS NULL), "
            "count(*) FILTER (WHERE type = 'exit' AND error_code IS NOT NULL AND request_id IS NOT NULL), "
            "count(DISTINCT status) FROM link_events_table")).one()
    assert total == SEED_EVENTS
    assert bad_success == 0 and bad_failure == 0 and tokenless == 0
    args = json.loads(sample.arguments)
    assert args[0]["access_token"] == sample.plaid_access_token and args[0]["count"] == 100
    assert {"transactionsSync", "accountsGet", "itemGet", "linkTokenCreate", "itemRemove"} <= methods
    assert institutions >= 20
    stories = seeded_stories(seeded)
    assert window[0] >= stories.anchor - timedelta(days=30) and window[1] < stories.anchor
    assert all(n > 0 for n in link_kinds[:3]) and link_kinds[3] >= 9


def test_outage_hours_show_the_spike(seeded):
    st: Stories = seeded_stories(seeded)
    with seeded.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.created_at >= :s AND e.created_at < :e AS in_outage, "
            "count(*) FILTER (WHERE e.error_code IN ('INSTITUTION_DOWN','INSTITUTION_NOT_RESPONDING')) "
            "  / (extract(epoch FROM max(e.created_at) - min(e.created_at)) / 3600) AS errors_per_hour "
            "FROM plaid_api_events_table e JOIN items_table i ON i.id = e.item_id "
            "WHERE i.plaid_institution_id = :ins GROUP BY 1"),
            {"s": st.outage_start, "e": st.outage_end, "ins": st.outage_institution}).all()
    rate = {r.in_outage: float(r.errors_per_hour) for r in rows}
    assert rate[True] > 50 * rate[False]


def test_login_wave_turns_items_bad_and_burst_hits_one_item(seeded):
    st = seeded_stories(seeded)
    with seeded.connect() as conn:
        # Items failing again and again since the wave began are the wave's victims.
        wave = conn.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'bad'), count(*) FROM ("
            " SELECT i.id, i.status FROM plaid_api_events_table e JOIN items_table i ON i.id = e.item_id"
            " WHERE e.error_code = 'ITEM_LOGIN_REQUIRED' AND e.created_at >= :w"
            " AND i.plaid_institution_id = :ins GROUP BY i.id, i.status HAVING count(*) >= 3) v"),
            {"w": st.wave_start, "ins": st.wave_institution}).one()
        burst = conn.execute(text(
            "SELECT item_id, count(*) FROM plaid_api_events_table WHERE error_code = 'TRANSACTIONS_REFRESH_LIMIT' "
            "GROUP BY item_id ORDER BY 2 DESC")).all()
        plaid_side = conn.execute(text(
            "SELECT count(*) FROM plaid_api_events_table WHERE error_code IN "
            "('INSTITUTION_NO_LONGER_SUPPORTED','UNSUPPORTED_RESPONSE','INSTITUTION_REGISTRATION_REQUIRED')")
        ).scalar_one()
    assert wave[0] >= 5 and wave[0] == wave[1]
    assert len(burst) == 1 and burst[0][1] >= 150
    assert plaid_side >= 12


def test_status_check_of_the_wave_keeps_its_bad_items_bad(new_database):
    # The stand-in must agree with the demo database: an "Item status" batch
    # over the wave's bad items answers ITEM_LOGIN_REQUIRED for every one.
    from admin_helpers import client_for

    from dashboard.batches import BatchCriteria, batch_results, plan_batch, run_batch, select_items
    from dashboard.plaid_standin import PlaidStandin, StandinState
    from dashboard.rate_limits import RateLimiter

    engine = make_engine(new_database())
    st = seed(engine, events=5000, seed_value=4, anchor=ANCHOR)  # 5 bad items, 4 in the wave
    with engine.connect() as conn:
        bad = conn.execute(text(
            "SELECT id FROM items_table WHERE status = 'bad' ORDER BY id")).scalars().all()
        wave = conn.execute(text(
            "SELECT count(*) FROM items_table WHERE status = 'bad' AND plaid_institution_id = :ins"),
            {"ins": st.wave_institution}).scalar_one()
        before = conn.execute(text("SELECT max(id) FROM plaid_api_events_table")).scalar_one()
    assert (len(bad), wave) == (5, 4)
    items = select_items(engine, BatchCriteria(item_ids=tuple(bad)))
    assert sorted(i.id for i in items) == bad
    with PlaidStandin(StandinState()) as server:
        outcome = run_batch(client_for(engine, server), plan_batch("item_status", items, "sandbox"), "qa",
                            limiter=RateLimiter())
    assert outcome.state == "finished"
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT DISTINCT status FROM items_table WHERE id = ANY(:ids)"),
                                {"ids": bad}).scalars().all()
        logged = conn.execute(text(
            "SELECT item_id, error_code FROM plaid_api_events_table WHERE id > :b ORDER BY item_id"),
            {"b": before}).all()
    assert statuses == ["bad"]
    # /item/get answers 200 with the Item's error: one call logged per item,
    # and the batch's result rows carry the code.
    assert [r.item_id for r in logged] == bad
    assert [(r.item_id, r.error_code, r.status_after) for r in outcome.results] == [
        (i, "ITEM_LOGIN_REQUIRED", "bad") for i in bad]
    assert [r["error_code"] for r in batch_results(engine, outcome.batch_id)] == ["ITEM_LOGIN_REQUIRED"] * len(bad)
    engine.dispose()
