import pytest

from dashboard.spikes import MIN_ERRORS, judge


def test_spike_needs_both_ratio_and_volume():
    # 30 errors in 1 h against 7 errors in 168 h: 720x, and enough volume.
    v = judge(30, 1, 7)
    assert v.spike and not v.new and v.ratio == pytest.approx(720)
    assert not judge(MIN_ERRORS - 1, 1, 1).spike  # huge ratio, too few errors
    assert not judge(100, 24, 600).spike  # 4.17/h vs 3.57/h: 1.17x


def test_new_codes_and_quiet_windows():
    v = judge(25, 24, 0)
    assert v.new and v.spike and v.ratio is None
    small_new = judge(2, 24, 0)
    assert small_new.new and not small_new.spike
    assert not judge(0, 24, 50).spike
    with pytest.raises(ValueError):
        judge(1, 0, 1)
