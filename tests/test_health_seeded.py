"""The issue's "done when" on the seeded demo data: the wave items need the user, the outage tops the list."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from dashboard.health_rule import Health
from dashboard.institution_health import institution_health
from dashboard.item_health import item_ids_by_health, list_items
from dashboard.seed import seeded_stories
from dashboard.timewindow import resolve_window


def test_login_wave_items_need_user_action(seeded, seed_anchor):
    stories = seeded_stories(seeded)
    window = resolve_window("custom", seed_anchor - timedelta(hours=24), seed_anchor)
    with seeded.connect() as conn:
        wave = set(conn.execute(text(
            "SELECT i.id FROM items_table i WHERE i.plaid_institution_id = :ins AND i.status = 'bad' "
            "AND EXISTS (SELECT 1 FROM plaid_api_events_table e WHERE e.item_id = i.id "
            "AND e.error_code = 'ITEM_LOGIN_REQUIRED' AND e.created_at >= :wave)"),
            {"ins": stories.wave_institution, "wave": stories.wave_start}).scalars())
    assert len(wave) >= 5  # 60k-event seed: a handful of broken items
    result = list_items(seeded, window, institution=stories.wave_institution, row_limit=1000, demo=True)
    assert set(result.items["institution"]) == {"First Gingham Credit Union"}
    by_id = dict(zip(result.items["item_id"], result.items["health"], strict=True))
    assert {by_id[i] for i in wave} == {Health.NEEDS_USER.value}
    # The wave keeps failing: their last error is the wave's code.
    last = dict(zip(result.items["item_id"], result.items["last_error_code"], strict=True))
    assert {last[i] for i in wave} <= {"ITEM_LOGIN_REQUIRED", None}
    needs = set(item_ids_by_health(seeded, window, Health.NEEDS_USER, row_limit=5000))
    assert wave <= needs
    assert result.counts[Health.NEEDS_USER] >= len(wave)
    assert any("need the user to re-link" in line for line in result.headline())


def test_outage_institution_tops_the_list_for_the_outage_window(seeded, seed_anchor):
    stories = seeded_stories(seeded)
    window = resolve_window("custom", stories.outage_start, stories.outage_end)
    res = institution_health(seeded, window, demo=True)
    top = res.institutions.iloc[0]
    assert top["plaid_institution_id"] == stories.outage_institution == "ins_109511"
    assert top["name"] == "Tartan Bank"
    assert top["flagged"] and "spike" in top["flag_reason"]
    assert top["success_rate"] < 0.3 and top["prev_success_rate"] > 0.8
    assert top["top_errors"].split(" (")[0] in ("INSTITUTION_DOWN", "INSTITUTION_NOT_RESPONDING")
