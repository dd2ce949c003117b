"""On the seeded demo data, the default 24 h window flags each story with nothing typed."""

from __future__ import annotations

from dashboard.seed import BURST_INSTITUTION, OUTAGE_INSTITUTION, WAVE_INSTITUTION
from dashboard.timewindow import resolve_window
from dashboard.trends import ApiFilters, api_report


def test_default_window_flags_every_story(seeded):
    report = api_report(seeded, resolve_window("24h"), ApiFilters())
    flagged = {(s.kind, s.key): s for s in report.flagged}
    for s in report.spikes:
        print(s)
    assert ("institution", OUTAGE_INSTITUTION) in flagged
    assert ("institution", WAVE_INSTITUTION) in flagged
    assert ("institution", BURST_INSTITUTION) in flagged
    burst = flagged[("error_code", "TRANSACTIONS_REFRESH_LIMIT")]
    assert burst.new and burst.spike
    assert ("error_code", "INSTITUTION_DOWN") in flagged or ("error_code", "INSTITUTION_NOT_RESPONDING") in flagged
