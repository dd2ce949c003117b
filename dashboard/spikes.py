"""The spike rule shared by the trends and health views.

An error code, method or institution is flagged when its error rate in the
window is far above its own baseline (the BASELINE_DAYS before the window),
or when it was never seen in the baseline at all. Counts, not percentages,
guard against flagging noise: a handful of errors is never a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

SPIKE_FACTOR = 3.0
MIN_ERRORS = 20
BASELINE_DAYS = 7

RULE_TEXT = (
    f"Flagged as a spike when errors per hour in the window are at least {SPIKE_FACTOR:g}× the "
    f"rate of the {BASELINE_DAYS} days before it and there are at least {MIN_ERRORS} errors; "
    "flagged as new when the code was not seen at all in those days."
)


@dataclass(frozen=True)
class SpikeVerdict:
    spike: bool
    new: bool
    ratio: float | None  # window rate / baseline rate; None without a baseline
    reason: str


def judge(
    window_errors: int,
    window_hours: float,
    baseline_errors: int,
    baseline_hours: float = BASELINE_DAYS * 24,
) -> SpikeVerdict:
    """Apply the rule to counts that SQL computed for one key."""
    if window_hours <= 0 or baseline_hours <= 0:
        raise ValueError("window and baseline must have a positive length")
    if window_errors <= 0:
        return SpikeVerdict(False, False, None, "no errors in the window")
    if baseline_errors == 0:
        return SpikeVerdict(
            window_errors >= MIN_ERRORS, True, None,
            f"new: not seen in the {BASELINE_DAYS} days before the window",
        )
    ratio = (window_errors / window_hours) / (baseline_errors / baseline_hours)
    spike = ratio >= SPIKE_FACTOR and window_errors >= MIN_ERRORS
    reason = f"{ratio:.1f}× its {BASELINE_DAYS}-day baseline rate"
    return SpikeVerdict(spike, False, ratio, reason)
