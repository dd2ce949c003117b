"""The derived-health rule for one Plaid item, in one place.

Pattern stores only `good`/`bad` per item. Support needs to know *who must
act*, so the dashboard derives a health from the stored status and the item's
recent API events. The rule exists twice on purpose: `derive()` (Python, for
explanations and tests) and `sql_case()` (the same rule as SQL, so lists can
be filtered and counted in the database). tests/test_health_rule.py checks
that both agree on constructed event histories.

Rule, first match wins (the state is taken as of the end of the window):

1. stored status `bad` → needs user action (Pattern sets `bad` on
   ITEM_LOGIN_REQUIRED / PENDING_EXPIRATION webhooks; only Link update mode
   clears it);
2. no failed call since the last successful one → healthy;
3. otherwise by the triage class of the last error (dashboard.triage):
   user action → needs user action; integration bug → broken by our
   integration; Plaid-side → Plaid-side; transient → failing transiently,
   unless it has been failing for PERSISTENT_TRANSIENT_HOURS or more (then
   Plaid-side: file a ticket); an unclassified code → failing transiently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dashboard.triage import (
    PERSISTENT_TRANSIENT_HOURS,
    TriageClass,
    classify,
    sql_triage_values,
    sql_type_fallback_values,
)


class Health(StrEnum):
    HEALTHY = "healthy"
    NEEDS_USER = "needs user action"
    TRANSIENT = "failing transiently"
    OURS = "broken by our integration"
    PLAID_SIDE = "Plaid-side"


# Worst first, for ordering lists and counts.
HEALTH_ORDER: tuple[Health, ...] = (
    Health.OURS,
    Health.PLAID_SIDE,
    Health.NEEDS_USER,
    Health.TRANSIENT,
    Health.HEALTHY,
)

NEXT_STEP: dict[Health, str] = {
    Health.HEALTHY: "Nothing to do.",
    Health.NEEDS_USER: "Ask the end user to re-authenticate through Link in update mode; a Plaid ticket will not help.",
    Health.TRANSIENT: "Wait and retry with backoff; check the institution's health. Escalate if it lasts for hours.",
    Health.OURS: "Fix our request or configuration (see the error's next step); the user cannot fix this.",
    Health.PLAID_SIDE: "File a Plaid support ticket with the item id, institution id and a request_id.",
}

RULE_TEXT = (
    "Health is derived as of the end of the window, first match wins: "
    "(1) Pattern's stored status is `bad` → **needs user action**; "
    "(2) no failed call since the last successful one → **healthy**; "
    "(3) otherwise by who must act on the last error: user action → **needs user action**, "
    "our request or configuration → **broken by our integration**, Plaid-only errors → **Plaid-side**, "
    f"transient errors → **failing transiently**, or **Plaid-side** once failing for "
    f"{PERSISTENT_TRANSIENT_HOURS} h or more; unknown codes → **failing transiently**. "
    "Consecutive failures count the failed calls since the last successful one."
)


@dataclass(frozen=True)
class ItemState:
    """What the rule needs to know about one item."""

    status: str  # Pattern's stored 'good' / 'bad'
    last_success_at: datetime | None = None
    last_error_code: str | None = None
    last_error_type: str | None = None
    last_error_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None  # first failed call after the last success


@dataclass(frozen=True)
class HealthVerdict:
    health: Health
    explanation: str
    next_step: str


def _hours(since: datetime | None, as_of: datetime) -> float:
    return 0.0 if since is None else max(0.0, (as_of - since).total_seconds() / 3600)


def derive(state: ItemState, as_of: datetime) -> HealthVerdict:
    """Apply the rule to one item's state as of `as_of`."""
    if state.status == "bad":
        why = "Pattern marked this item bad (login required or consent expiring)"
        if state.last_error_code:
            why += f"; last error {state.last_error_code}"
        return HealthVerdict(Health.NEEDS_USER, why + ".", NEXT_STEP[Health.NEEDS_USER])
    if state.consecutive_failures <= 0 or not (state.last_error_code or state.last_error_type):
        if state.last_success_at is None:
            return HealthVerdict(Health.HEALTHY, "No failed calls recorded (and no calls in the history).",
                                 NEXT_STEP[Health.HEALTHY])
        return HealthVerdict(Health.HEALTHY, "The last call succeeded.", NEXT_STEP[Health.HEALTHY])
    triage = classify(state.last_error_code, state.last_error_type)
    failing_hours = _hours(state.failing_since, as_of)
    streak = f"{state.consecutive_failures} failed call(s) since the last success"
    cls = triage.triage_class
    if cls is TriageClass.USER_ACTION:
        health = Health.NEEDS_USER
    elif cls is TriageClass.INTEGRATION:
        health = Health.OURS
    elif cls is TriageClass.PLAID_SIDE:
        health = Health.PLAID_SIDE
    elif cls is TriageClass.TRANSIENT and failing_hours >= PERSISTENT_TRANSIENT_HOURS:
        health = Health.PLAID_SIDE
        streak += f", failing for {failing_hours:.0f} h (≥ {PERSISTENT_TRANSIENT_HOURS} h)"
    else:
        health = Health.TRANSIENT
    explanation = f"Last error {triage.code or state.last_error_type} ({triage.label}); {streak}."
    escalated = health is Health.PLAID_SIDE and cls is not TriageClass.PLAID_SIDE
    return HealthVerdict(health, explanation, NEXT_STEP[Health.PLAID_SIDE] if escalated else triage.next_step)


def sql_case(
    *,
    status: str,
    consecutive_failures: str,
    last_error_code: str,
    last_error_type: str,
    failing_since: str,
    as_of: str = ":end",
) -> tuple[str, str, dict[str, Any]]:
    """The rule as SQL over the given column expressions.

    Returns (joins, case_expression, params): `joins` LEFT JOINs the triage
    tables on the last error (aliases tri_c, tri_t), to be placed after the
    FROM item whose columns are named.
    """
    codes_sql, params = sql_triage_values()
    types_sql, type_params = sql_type_fallback_values()
    params = {**params, **type_params, "persist_hours": PERSISTENT_TRANSIENT_HOURS}
    joins = (
        f"LEFT JOIN {codes_sql.replace('AS triage(', 'AS tri_c(')} ON tri_c.error_code = {last_error_code} "
        f"LEFT JOIN {types_sql.replace('AS triage_type(', 'AS tri_t(')} ON tri_t.error_type = {last_error_type}"
    )
    cls = "coalesce(tri_c.triage_class, tri_t.triage_class, 'unclassified')"
    case = f"""CASE
        WHEN {status} = 'bad' THEN '{Health.NEEDS_USER.value}'
        WHEN coalesce({consecutive_failures}, 0) = 0
             OR ({last_error_code} IS NULL AND {last_error_type} IS NULL) THEN '{Health.HEALTHY.value}'
        WHEN {cls} = '{TriageClass.USER_ACTION.value}' THEN '{Health.NEEDS_USER.value}'
        WHEN {cls} = '{TriageClass.INTEGRATION.value}' THEN '{Health.OURS.value}'
        WHEN {cls} = '{TriageClass.PLAID_SIDE.value}' THEN '{Health.PLAID_SIDE.value}'
        WHEN {cls} = '{TriageClass.TRANSIENT.value}'
             AND {failing_since} <= CAST({as_of} AS timestamptz) - :persist_hours * interval '1 hour'
             THEN '{Health.PLAID_SIDE.value}'
        ELSE '{Health.TRANSIENT.value}'
    END"""
    return joins, case, params


def parse_health(value: str | None) -> Health | None:
    """A health from a URL value; None for 'any'; ValueError with a clear message otherwise."""
    if value is None or value.strip() == "" or value.strip().lower() == "any":
        return None
    for h in Health:
        if value.strip().lower() == h.value.lower():
            return h
    raise ValueError(f"Unknown health {value!r}; choose one of: {', '.join(h.value for h in Health)}")
