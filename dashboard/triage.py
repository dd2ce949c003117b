"""The triage knowledge base: who must act on a Plaid error, and what to do next.

One module so that every view (trends, health, investigate, admin, ticket
packets) gives the same answer. Source: shared/reference/plaid-api.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TriageClass(StrEnum):
    USER_ACTION = "user action"
    TRANSIENT = "transient"
    INTEGRATION = "integration bug"
    PLAID_SIDE = "Plaid-side (ticket)"
    UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class Triage:
    code: str | None
    triage_class: TriageClass
    next_step: str
    ticket_category: str | None  # suggested Plaid support ticket category, if a ticket fits

    @property
    def label(self) -> str:
        return self.triage_class.value

    @property
    def ticket_advised(self) -> bool:
        return self.triage_class is TriageClass.PLAID_SIDE


_UPDATE_MODE = (
    "Ask the end user to re-authenticate: send them through Link in update mode. "
    "A Plaid ticket will not help."
)
_USER_STEPS: dict[str, str] = {
    "ITEM_LOGIN_REQUIRED": _UPDATE_MODE,
    "INVALID_CREDENTIALS": "The user typed wrong credentials: let them retry in Link (update mode).",
    "INVALID_MFA": "The MFA answer was wrong: let the user retry in Link.",
    "INVALID_OTP": "The one-time code was wrong or expired: let the user retry in Link.",
    "ITEM_LOCKED": "The bank locked the account: the user must unlock it at their bank, then re-link.",
    "USER_SETUP_REQUIRED": "The user must finish an action on their bank's site, then re-link.",
    "PASSWORD_RESET_REQUIRED": "The user must reset their password at the bank, then use Link update mode.",
    "INSUFFICIENT_CREDENTIALS": "The user left OAuth before granting access: ask them to link again.",
    "ACCESS_NOT_GRANTED": "The user did not share the needed accounts: re-link and grant access.",
    "ADDITIONAL_CONSENT_REQUIRED": "New consent is needed: send the user through Link update mode.",
    "USER_PERMISSION_REVOKED": "The user revoked access at their bank: they must link the Item again.",
    "NO_ACCOUNTS": "No eligible accounts: ask the user to link a different account or institution.",
    "NO_AUTH_ACCOUNTS": "No checking/savings account for Auth: ask the user to link another account.",
    "ITEM_NOT_SUPPORTED": "Plaid cannot support this account type: ask the user to link another account.",
    "MFA_NOT_SUPPORTED": "The bank's MFA method is not supported: ask the user to change MFA or link another bank.",
    "USER_INPUT_TIMEOUT": "The user took too long in Link: ask them to try again.",
    "INVALID_UPDATED_USERNAME": "The username in update mode differs from the original: relink with the same login.",
}
_TRANSIENT_STEPS: dict[str, str] = {
    "INSTITUTION_DOWN": "The bank is down: retry later with backoff; escalate if it lasts for hours.",
    "INSTITUTION_NOT_RESPONDING": "The bank is not responding: retry later with backoff; escalate if it persists.",
    "INSTITUTION_NOT_AVAILABLE": "The bank is temporarily unavailable: retry later.",
    "PRODUCT_NOT_READY": "Data is still being prepared: wait for the webhook, then retry.",
    "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION": "Data changed mid-sync: restart the sync from the last cursor.",
    "INTERNAL_SERVER_ERROR": "Plaid had an internal error: retry with backoff; file a ticket if it persists.",
    "PLANNED_MAINTENANCE": "Planned maintenance at the bank or Plaid: retry after the window.",
}
_RATE_LIMIT_CODES = (
    "ITEM_GET_LIMIT",
    "ACCOUNTS_LIMIT",
    "BALANCE_LIMIT",
    "ACCOUNTS_BALANCE_GET_LIMIT",
    "TRANSACTIONS_REFRESH_LIMIT",
    "TRANSACTIONS_SYNC_LIMIT",
    "TRANSACTIONS_LIMIT",
    "INSTITUTION_RATE_LIMIT",
    "RATE_LIMIT",
)
_INTEGRATION_STEPS: dict[str, str] = {
    "INVALID_ACCESS_TOKEN": "Our request used a bad access token: check for a sandbox/production mix-up.",
    "INVALID_API_KEYS": "Our client_id/secret are wrong for this environment: fix the configuration.",
    "UNAUTHORIZED_ENVIRONMENT": "Our keys are not enabled for this environment: fix the configuration.",
    "INVALID_FIELD": "Our request has an invalid field: fix the calling code.",
    "MISSING_FIELDS": "Our request misses required fields: fix the calling code.",
    "INVALID_BODY": "Our request body is malformed: fix the calling code.",
    "INVALID_PRODUCT": "We asked for a product this Item/account does not support: fix the request.",
    "PRODUCT_NOT_ENABLED": "The product is not enabled for our account: enable it in the Plaid Dashboard.",
    "PRODUCTS_NOT_SUPPORTED": "The institution does not support the requested products: fix the request.",
    "ITEM_NOT_FOUND": "The Item no longer exists at Plaid: remove it on our side and ask the user to link again.",
    "INVALID_LINK_TOKEN": "Our Link token is invalid or expired: create a fresh one.",
    "INVALID_CONFIGURATION": "Our Link configuration is wrong: fix the link_token_create parameters.",
}
_PLAID_SIDE_STEPS: dict[str, str] = {
    "INSTITUTION_NO_LONGER_SUPPORTED": "Plaid dropped this institution: file a ticket and tell affected users.",
    "UNSUPPORTED_RESPONSE": "Plaid could not parse the bank's answer: file a Plaid ticket with the request_id.",
    "INSTITUTION_REGISTRATION_REQUIRED": "Registration pending: after the stated wait, file a ticket.",
    "UNAUTHORIZED_INSTITUTION": "Institution not authorised for us yet: after the stated wait, file a ticket.",
}

_TICKET_CATEGORY: dict[TriageClass, str | None] = {
    TriageClass.USER_ACTION: None,
    TriageClass.TRANSIENT: "Institution connectivity (only if it persists for hours)",
    TriageClass.INTEGRATION: None,
    TriageClass.PLAID_SIDE: "Institution / Item issue",
    TriageClass.UNCLASSIFIED: "General technical question",
}

KNOWLEDGE_BASE: dict[str, Triage] = {}
for _cls, _steps in (
    (TriageClass.USER_ACTION, _USER_STEPS),
    (TriageClass.TRANSIENT, _TRANSIENT_STEPS),
    (TriageClass.INTEGRATION, _INTEGRATION_STEPS),
    (TriageClass.PLAID_SIDE, _PLAID_SIDE_STEPS),
):
    for _code, _step in _steps.items():
        KNOWLEDGE_BASE[_code] = Triage(_code, _cls, _step, _TICKET_CATEGORY[_cls])
for _code in _RATE_LIMIT_CODES:
    KNOWLEDGE_BASE[_code] = Triage(
        _code,
        TriageClass.TRANSIENT,
        "Rate limited: slow this caller down and retry with backoff; look for a loop calling Plaid.",
        _TICKET_CATEGORY[TriageClass.TRANSIENT],
    )

# Error types whose every code shares a class, for codes the table above lacks.
_TYPE_FALLBACK: dict[str, TriageClass] = {
    "RATE_LIMIT_EXCEEDED": TriageClass.TRANSIENT,
    "INVALID_REQUEST": TriageClass.INTEGRATION,
    "INVALID_INPUT": TriageClass.INTEGRATION,
}

# Transient errors that persist this long deserve a Plaid ticket after all.
PERSISTENT_TRANSIENT_HOURS = 6


def classify(error_code: str | None, error_type: str | None = None) -> Triage:
    """Triage one error. Unknown codes are reported as unclassified, never guessed."""
    if error_code is None and error_type is None:
        raise ValueError("classify() needs an error code or type; a success has no triage")
    if error_code and error_code in KNOWLEDGE_BASE:
        return KNOWLEDGE_BASE[error_code]
    if error_type and error_type in _TYPE_FALLBACK:
        cls = _TYPE_FALLBACK[error_type]
        return Triage(
            error_code,
            cls,
            f"Not in our knowledge base; {error_type} errors are usually '{cls.value}'. "
            "Check Plaid's error docs for this code.",
            _TICKET_CATEGORY[cls],
        )
    return Triage(
        error_code,
        TriageClass.UNCLASSIFIED,
        "Unclassified: this code is not in our knowledge base. Check Plaid's error docs; "
        "if it persists and the docs do not help, ask Plaid Support.",
        _TICKET_CATEGORY[TriageClass.UNCLASSIFIED],
    )


def escalate_if_persistent(triage: Triage, hours_persisting: float) -> Triage:
    """A transient error that has lasted for hours becomes a Plaid-side ticket."""
    if triage.triage_class is TriageClass.TRANSIENT and hours_persisting >= PERSISTENT_TRANSIENT_HOURS:
        return Triage(
            triage.code,
            TriageClass.PLAID_SIDE,
            f"Transient error persisting for {hours_persisting:.0f} h: file a Plaid ticket.",
            _TICKET_CATEGORY[TriageClass.PLAID_SIDE],
        )
    return triage


# Link exit statuses (link_events_table.status): where the user stopped.
LINK_EXIT_STATUS_HINTS: dict[str, str] = {
    "requires_credentials": "User left at the credentials screen: usually abandonment, not an error.",
    "requires_questions": "User left at security questions (MFA).",
    "requires_selections": "User left at an MFA selection step.",
    "requires_code": "User left while waiting for a one-time code.",
    "choose_device": "User left while choosing an MFA device.",
    "requires_account_selection": "User left at account selection.",
    "requires_oauth": "User left during the bank's OAuth flow: check the OAuth redirect setup.",
    "institution_not_found": "User could not find their bank in Link's search.",
    "institution_not_supported": "User's bank is not supported for the requested products.",
}


def link_status_hint(status: str | None) -> str:
    if not status:
        return "No exit status recorded."
    return LINK_EXIT_STATUS_HINTS.get(status, "Unknown Link exit status.")


def sql_triage_values() -> tuple[str, dict[str, Any]]:
    """A VALUES list (code, class) with bound parameters, for joining in SQL
    so the database can group by triage class."""
    rows = []
    params: dict[str, Any] = {}
    for i, (code, tri) in enumerate(sorted(KNOWLEDGE_BASE.items())):
        rows.append(f"(:tri_code_{i}, :tri_class_{i})")
        params[f"tri_code_{i}"] = code
        params[f"tri_class_{i}"] = tri.triage_class.value
    return "(VALUES " + ", ".join(rows) + ") AS triage(error_code, triage_class)", params


# Failures of the dashboard's own Plaid calls that never produced a Plaid
# error body (dashboard.plaid_client logs them under error_type
# DASHBOARD_CLIENT_ERROR), so the admin page can triage them like the rest.
CLIENT_ERROR_CODES: dict[str, Triage] = {
    "CLIENT_TIMEOUT": Triage(
        "CLIENT_TIMEOUT", TriageClass.TRANSIENT,
        "Plaid did not answer within the dashboard's timeout: retry later; if it repeats, check Plaid's status page.",
        _TICKET_CATEGORY[TriageClass.TRANSIENT],
    ),
    "CLIENT_CONNECTION_FAILED": Triage(
        "CLIENT_CONNECTION_FAILED", TriageClass.INTEGRATION,
        "Could not connect to Plaid: check the network, proxy and PLAID_ENV host from the dashboard's server.",
        None,
    ),
    "CLIENT_MALFORMED_RESPONSE": Triage(
        "CLIENT_MALFORMED_RESPONSE", TriageClass.PLAID_SIDE,
        "Plaid's answer could not be read (truncated or not JSON): retry; if it repeats, file a ticket "
        "with the time and any request_id, and check for a proxy rewriting responses.",
        _TICKET_CATEGORY[TriageClass.PLAID_SIDE],
    ),
}
KNOWLEDGE_BASE.update(CLIENT_ERROR_CODES)


def sql_type_fallback_values() -> tuple[str, dict[str, Any]]:
    """A VALUES list (error_type, class) with bound parameters: the error-type
    fallback of classify(), for codes missing from the knowledge base."""
    rows = []
    params: dict[str, Any] = {}
    for i, (etype, cls) in enumerate(sorted(_TYPE_FALLBACK.items())):
        rows.append(f"(:tri_type_{i}, :tri_type_class_{i})")
        params[f"tri_type_{i}"] = etype
        params[f"tri_type_class_{i}"] = cls.value
    return "(VALUES " + ", ".join(rows) + ") AS triage_type(error_type, triage_class)", params


def sql_triage_class(code_col: str, type_col: str) -> tuple[str, str, dict[str, Any]]:
    """LEFT JOINs and a class expression that give, in SQL, the class classify() gives.

    Returns (joins, expression, params). `code_col`/`type_col` are column
    references written by the caller (never user input). The expression is
    NULL for a success, so grouping by class aggregates in the database and
    unknown codes come out as 'unclassified', as in classify().
    """
    values, params = sql_triage_values()
    types, type_params = sql_type_fallback_values()
    params.update(type_params)
    joins = (
        f"LEFT JOIN {values} ON triage.error_code = {code_col} "
        f"LEFT JOIN {types} ON triage_type.error_type = {type_col}"
    )
    expr = (
        f"CASE WHEN {code_col} IS NULL AND {type_col} IS NULL THEN NULL "
        f"ELSE COALESCE(triage.triage_class, triage_type.triage_class, "
        f"'{TriageClass.UNCLASSIFIED.value}') END"
    )
    return joins, expr, params
