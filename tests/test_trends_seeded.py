"""On the seeded demo data, the default 24 h window flags each story with nothing typed."""

from __future__ import annotations

from dashboard.seed import BURST_INSTITUTION, OUTAGE_INSTITUTION, WAVE_INSTITUTION
from dashboard.timewindow import resolve_window
from dashboard.trends import ApiFilters, api_report


def test_default_window_flags_every_story(seeded):
    report = api_report(seeded, resolve_window("24h"), ApiFilters())
    flagged = {(s.kind, s.key): s for s in report.flagged}
    assert ("institution", OUTAGE_INSTITUTION) in flagged
    assert ("institution", WAVE_INSTITUTION) in flagged
    assert ("institution", BURST_INSTITUTION) in flagged
    burst = flagged[("error_code", "TRANSACTIONS_REFRESH_LIMIT")]
    assert burst.new and burst.spike
    assert flagged[("institution", OUTAGE_INSTITUTION)].peer
    assert flagged[("institution", WAVE_INSTITUTION)].peer  # the wave started before the window: peers show it
    assert ("error_code", "INSTITUTION_DOWN") in flagged and ("error_code", "INSTITUTION_NOT_RESPONDING") in flagged
    assert ("error_code", "ITEM_LOGIN_REQUIRED") in flagged
    # Background institutions stay quiet: only the three stories are flagged.
    assert {k for kind, k in flagged if kind == "institution"} == {
        OUTAGE_INSTITUTION, WAVE_INSTITUTION, BURST_INSTITUTION}
