"""Investigate one identifier: a timeline of everything related, and event detail.

The timeline merges the user's Link events and the item's Plaid API events
into one list, newest first, paginated in SQL inside a time window. Event
detail shows every column, with `arguments` redacted. `run()` is the one
call the investigate page makes: it decides, from the URL's parameters,
whether to show a prompt, a choice between matches, an event or a timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from sqlalchemy.engine import Engine

from dashboard.database import read_frame, read_rows
from dashboard.identifiers import IdentifierError, Kind, Match, lookup, normalise, not_found_message
from dashboard.page_links import investigate_url
from dashboard.redaction import redact_arguments, redact_text, token_environment
from dashboard.timewindow import TimeWindow
from dashboard.trends import UNKNOWN_INSTITUTION
from dashboard.triage import TriageClass, classify, link_status_hint, sql_triage_values

PAGE_SIZE = 50
MAX_ROWS = 5000  # rows reachable by paging or export; beyond that, narrow the window
_EVENT_REF = re.compile(r"(link-)?([0-9]{1,10})")
_FILTER_VALUE = re.compile(r"[A-Za-z0-9_ .-]{1,80}")

TIMELINE_COLUMNS = [
    "time (UTC)",
    "local time",
    "source",
    "method",
    "error_code",
    "error_type",
    "triage",
    "request_id",
    "link_session_id",
    "plaid_item_id",
    "institution_id",
    "user_id",
    "link_status",
    "event",
]


class InvestigateError(ValueError):
    """Input the page cannot use; the message is for the screen."""


@dataclass(frozen=True)
class Scope:
    """Whose events the timeline shows."""

    description: str = "all events"
    user_id: int | None = None
    item_id: int | None = None
    link_session_id: str | None = None
    institution_id: str | None = None


TRIAGE_VALUES = tuple(c.value for c in TriageClass)
SOURCES = {"api": "Plaid API calls only", "link": "Link events only"}


@dataclass(frozen=True)
class Filters:
    code: str | None = None
    method: str | None = None
    institution: str | None = None
    triage: str | None = None  # a TriageClass value, as the trends page links with `?triage=`
    # "api" or "link": trends rows count one source only, and codes such as
    # ITEM_LOGIN_REQUIRED occur in both tables.
    source: str | None = None
    # Failed calls and Link errors only: trends' institution and method rows
    # count errors, and an outage's errors drown among the successes otherwise.
    errors_only: bool = False

    @classmethod
    def parse(
        cls, code: str | None, method: str | None, institution: str | None, triage: str | None = None,
        source: str | None = None, errors: object = None,
    ) -> Filters:
        def clean(name: str, value: str | None) -> str | None:
            value = (value or "").strip()
            if not value:
                return None
            if not _FILTER_VALUE.fullmatch(value):
                raise InvestigateError(f"The {name} filter {value[:40]!r} is not a valid value.")
            return value

        tri = (triage or "").strip() or None
        if tri is not None and tri not in TRIAGE_VALUES:
            raise InvestigateError(
                f"The triage filter {tri[:40]!r} is not a triage class; use one of: {', '.join(TRIAGE_VALUES)}."
            )
        src = (source or "").strip().lower() or None
        if src is not None and src not in SOURCES:
            raise InvestigateError(f"The source filter {src[:40]!r} is not one of: {', '.join(SOURCES)}.")
        flag = str(errors if errors is not None else "").strip().lower()
        if flag not in ("", "0", "1", "true", "false"):
            raise InvestigateError(f"The errors filter {flag[:40]!r} is not one of: 1, true, 0, false.")
        return cls(clean("code", code), clean("method", method), clean("institution", institution), tri, src,
                   flag in ("1", "true"))

    @property
    def active(self) -> bool:
        return bool(self.code or self.method or self.institution or self.triage or self.source or self.errors_only)

    def describe(self) -> str:
        parts = [f"{k} = {v}" for k, v in (("code", self.code), ("method", self.method),
                                           ("institution", self.institution), ("triage", self.triage),
                                           ("source", SOURCES.get(self.source or ""))) if v]
        if self.errors_only:
            parts.append("errors only")
        return ", ".join(parts)


# Error types Plaid documents (shared/reference/plaid-api.md); their fallback
# class comes from triage.classify so SQL and Python never disagree.
_ERROR_TYPES = (
    "INVALID_REQUEST", "INVALID_RESULT", "INVALID_INPUT", "INSTITUTION_ERROR", "RATE_LIMIT_EXCEEDED",
    "API_ERROR", "ITEM_ERROR", "ASSET_REPORT_ERROR", "RECAPTCHA_ERROR", "OAUTH_ERROR", "PAYMENT_ERROR",
    "BANK_TRANSFER_ERROR", "SANDBOX_ERROR", "TRANSACTIONS_ERROR", "TRANSFER_ERROR", "USER_ERROR",
)


def _triage_sql(alias: str) -> tuple[str, dict[str, Any]]:
    """SQL for the row's triage label (as triage_label gives it), joined to the `tri` CTE."""
    params: dict[str, Any] = {"tri_success": "success", "tri_unclassified": TriageClass.UNCLASSIFIED.value}
    whens = []
    for n, etype in enumerate(_ERROR_TYPES):
        cls = classify(None, etype).triage_class
        if cls is not TriageClass.UNCLASSIFIED:
            whens.append(f"WHEN {alias}.error_type = :tri_type_{n} THEN :tri_type_class_{n}")
            params[f"tri_type_{n}"] = etype
            params[f"tri_type_class_{n}"] = cls.value
    expr = (
        f"CASE WHEN {alias}.error_code IS NULL AND {alias}.error_type IS NULL THEN :tri_success "
        f"ELSE COALESCE((SELECT tri.triage_class FROM tri WHERE tri.error_code = {alias}.error_code), "
        f"CASE {' '.join(whens)} ELSE :tri_unclassified END) END"
    )
    return expr, params


@dataclass(frozen=True)
class TimelinePage:
    rows: pd.DataFrame
    page: int
    page_size: int
    has_next: bool

    @property
    def first_row(self) -> int:
        return (self.page - 1) * self.page_size + 1


def _api_arm(scope: Scope, filters: Filters) -> str | None:
    if filters.source == "link":
        return None
    conds = ["e.created_at >= :start", "e.created_at < :end"]
    if scope.item_id is not None:
        conds.append("e.item_id = :item_id")
    elif scope.user_id is not None:
        conds.append("e.user_id = :user_id")
    if scope.institution_id:
        conds.append("i.plaid_institution_id = :scope_institution")
    if filters.institution == UNKNOWN_INSTITUTION:
        # as trends groups them: calls without an item, or of an item no longer in items_table
        conds.append("i.plaid_institution_id IS NULL")
    elif filters.institution:
        conds.append("i.plaid_institution_id = :institution")
    conds += _event_filter_conds("e", "e.plaid_method", filters)
    return (
        "SELECT 'api' AS source, e.id, e.created_at, e.plaid_method AS method, e.error_code, e.error_type, "
        "e.request_id, CAST(NULL AS text) AS link_session_id, i.plaid_item_id, "
        "i.plaid_institution_id AS institution_id, e.user_id, CAST(NULL AS text) AS link_status "
        "FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id "
        "WHERE " + " AND ".join(conds)
    )


def _event_filter_conds(alias: str, method_expr: str, filters: Filters) -> list[str]:
    """The code/method/triage/errors filters, the same for both arms of the timeline."""
    conds = []
    if filters.code:
        conds.append(f"{alias}.error_code = :code")
    if filters.method:
        conds.append(f"{method_expr} = :method")
    if filters.triage:
        conds.append(f"{_triage_sql(alias)[0]} = :triage")
    if filters.errors_only:
        conds.append(f"({alias}.error_code IS NOT NULL OR {alias}.error_type IS NOT NULL)")
    return conds


def _link_arm(scope: Scope, filters: Filters) -> str | None:
    # Link events carry no institution or item: they belong to a user only.
    if scope.institution_id or filters.institution or filters.source == "api":
        return None
    conds = ["l.created_at >= :start", "l.created_at < :end"]
    if scope.link_session_id:
        conds.append("l.link_session_id = :link_session_id")
    elif scope.user_id is not None:
        conds.append("l.user_id = :user_id")
    elif scope.item_id is not None:
        return None  # an item whose user is unknown has no Link events we can attribute
    conds += _event_filter_conds("l", "'Link ' || l.type", filters)
    return (
        # Named like the API arm's columns: with ?source=link this arm is the only one.
        "SELECT 'link' AS source, l.id, l.created_at, 'Link ' || l.type AS method, l.error_code, l.error_type, "
        "l.request_id, l.link_session_id, CAST(NULL AS text) AS plaid_item_id, "
        "CAST(NULL AS text) AS institution_id, l.user_id, l.status AS link_status "
        "FROM link_events_table l WHERE " + " AND ".join(conds)
    )


def _timeline_sql(scope: Scope, filters: Filters) -> str:
    arms = [a for a in (_api_arm(scope, filters), _link_arm(scope, filters)) if a]
    with_triage = f"WITH tri AS (SELECT * FROM {sql_triage_values()[0]}) " if filters.triage else ""
    return (
        with_triage + "SELECT * FROM (" + " UNION ALL ".join(f"({a})" for a in arms) + ") t "
        "ORDER BY created_at DESC, source, id DESC LIMIT :row_limit OFFSET :offset"
    )


def _params(scope: Scope, filters: Filters, window: TimeWindow) -> dict[str, Any]:
    return {
        **window.params(),
        "item_id": scope.item_id,
        "user_id": scope.user_id,
        "link_session_id": scope.link_session_id,
        "scope_institution": scope.institution_id,
        "institution": filters.institution,
        "code": filters.code,
        "method": filters.method,
        "triage": filters.triage,
        **(sql_triage_values()[1] if filters.triage else {}),
        **(_triage_sql("e")[1] if filters.triage else {}),
    }


def local_zone(tz_name: str | None) -> ZoneInfo:
    """The viewer's time zone (from the browser); UTC when unknown or invalid."""
    try:
        return ZoneInfo(tz_name) if tz_name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def triage_label(code: str | None, error_type: str | None) -> str:
    code = None if pd.isna(code) else code  # a frame holds missing values as NaN
    error_type = None if pd.isna(error_type) else error_type
    if not code and not error_type:
        return "success"
    return classify(code, error_type).label


def event_ref(source: str, event_id: int) -> str:
    return str(event_id) if source == "api" else f"link-{event_id}"


def _shape(raw: pd.DataFrame, tz_name: str | None) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    zone = local_zone(tz_name)
    ts = pd.to_datetime(raw["created_at"], utc=True)
    df = pd.DataFrame(
        {
            "time (UTC)": ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "local time": ts.dt.tz_convert(zone).dt.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "source": raw["source"].map({"api": "Plaid API", "link": "Link"}),
            "method": raw["method"],
            "error_code": raw["error_code"],
            "error_type": raw["error_type"],
            "triage": [triage_label(c, t) for c, t in zip(raw["error_code"], raw["error_type"], strict=True)],
            "request_id": raw["request_id"],
            "link_session_id": raw["link_session_id"],
            "plaid_item_id": raw["plaid_item_id"],
            "institution_id": raw["institution_id"],
            "user_id": raw["user_id"].astype("Int64"),
            "link_status": raw["link_status"],
            "event": [
                investigate_url(event=event_ref(s, int(i))) for s, i in zip(raw["source"], raw["id"], strict=True)
            ],
        }
    )
    return df[TIMELINE_COLUMNS]


def timeline(
    engine: Engine,
    scope: Scope,
    window: TimeWindow,
    filters: Filters | None = None,
    *,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    tz_name: str | None = None,
) -> TimelinePage:
    """One page of the merged timeline, newest first."""
    filters = filters or Filters()
    if page < 1:
        raise InvestigateError("Pages start at 1.")
    offset = (page - 1) * page_size
    if offset + page_size > MAX_ROWS:
        raise InvestigateError(
            f"Only the newest {MAX_ROWS:,} events can be paged through; narrow the window or add a filter."
        )
    params = {**_params(scope, filters, window), "row_limit": page_size + 1, "offset": offset}
    raw = read_frame(engine, _timeline_sql(scope, filters), params)
    has_next = len(raw) > page_size
    return TimelinePage(_shape(raw.head(page_size), tz_name), page, page_size, has_next)


def timeline_csv(
    engine: Engine, scope: Scope, window: TimeWindow, filters: Filters | None = None, *, tz_name: str | None = None
) -> bytes:
    """The newest MAX_ROWS events of the timeline as CSV (no arguments, so nothing to redact)."""
    filters = filters or Filters()
    params = {**_params(scope, filters, window), "row_limit": MAX_ROWS, "offset": 0}
    raw = read_frame(engine, _timeline_sql(scope, filters), params)
    return _shape(raw, tz_name).to_csv(index=False).encode("utf-8")


def scope_for(match: Match) -> Scope:
    """The timeline a match leads to."""
    if match.kind in (Kind.PLAID_ITEM_ID, Kind.ITEM_ID):
        return Scope(f"item {match.plaid_item_id} (id {match.item_id}) and its user's Link events",
                     user_id=match.user_id, item_id=match.item_id)
    if match.kind in (Kind.USER_ID, Kind.USERNAME):
        return Scope(f"user id {match.user_id}", user_id=match.user_id)
    if match.kind is Kind.LINK_SESSION_ID:
        return Scope(f"Link session {match.link_session_id} and the user's API events",
                     user_id=match.user_id, link_session_id=match.link_session_id)
    if match.kind is Kind.INSTITUTION_ID:
        return Scope(f"items at {match.institution_id}", institution_id=match.institution_id)
    # a request_id: the timeline of the event's item, else its user
    if match.item_id is not None:
        return Scope(f"item {match.plaid_item_id} (id {match.item_id})", user_id=match.user_id, item_id=match.item_id)
    return Scope(f"user id {match.user_id}", user_id=match.user_id)


# --- event detail -----------------------------------------------------------


@dataclass(frozen=True)
class EventDetail:
    ref: str
    source: str  # "api" or "link"
    columns: dict[str, Any]  # every column of the event row, arguments redacted
    context: dict[str, Any]  # the item and user it belongs to
    arguments: str  # redacted, pretty-printed JSON (or redacted text)
    environment: str | None  # from the token shape in the raw arguments, read before redaction

    @property
    def created_at(self) -> datetime | None:
        return self.columns["created_at"]

    @property
    def error_code(self) -> str | None:
        return self.columns.get("error_code")

    def times(self, tz_name: str | None) -> str:
        """When it happened, in UTC and in the viewer's zone."""
        if self.created_at is None:
            return "time not recorded"
        utc = self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        local = self.created_at.astimezone(local_zone(tz_name)).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"{utc} (UTC) · {local} (local)"

    @property
    def error_type(self) -> str | None:
        return self.columns.get("error_type")


def as_field_table(values: dict[str, Any]) -> pd.DataFrame:
    """A two-column (field, value) table for showing one record top to bottom."""
    return pd.DataFrame(
        {"field": list(values), "value": ["—" if v is None else str(v) for v in values.values()]}
    )


def parse_event_ref(raw: object) -> tuple[str, int]:
    text = str(raw or "").strip()
    m = _EVENT_REF.fullmatch(text)
    if not m or int(m.group(2)) > 2_147_483_647:
        raise InvestigateError(
            f"{text[:40]!r} is not an event reference; use the number of an API event or link-<number>."
        )
    return ("link" if m.group(1) else "api"), int(m.group(2))


_API_EVENT_SQL = """
    SELECT e.id, e.item_id, e.user_id, e.plaid_method, e.arguments, e.request_id, e.error_type,
           e.error_code, e.created_at,
           i.plaid_item_id, i.plaid_institution_id AS institution_id, i.status AS item_status,
           u.username
    FROM plaid_api_events_table e
    LEFT JOIN items_table i ON i.id = e.item_id
    LEFT JOIN users_table u ON u.id = e.user_id
    WHERE e.id = :id LIMIT :row_limit"""
_LINK_EVENT_SQL = """
    SELECT l.id, l.type, l.user_id, l.link_session_id, l.request_id, l.error_type, l.error_code,
           l.status, l.created_at, u.username
    FROM link_events_table l LEFT JOIN users_table u ON u.id = l.user_id
    WHERE l.id = :id LIMIT :row_limit"""
_API_COLUMNS = ("id", "item_id", "user_id", "plaid_method", "arguments", "request_id", "error_type",
                "error_code", "created_at")
_LINK_COLUMNS = ("id", "type", "user_id", "link_session_id", "request_id", "error_type", "error_code",
                 "status", "created_at")


def event_detail(engine: Engine, ref: object) -> EventDetail | None:
    """One event with every column; None when it does not exist."""
    source, event_id = parse_event_ref(ref)
    sql = _API_EVENT_SQL if source == "api" else _LINK_EVENT_SQL
    rows = read_rows(engine, sql, {"id": event_id, "row_limit": 1})
    if not rows:
        return None
    row = rows[0]
    if source == "api":
        raw_args = row["arguments"]
        arguments = redact_arguments(raw_args)
        columns = {k: row[k] for k in _API_COLUMNS}
        columns["arguments"] = arguments
        context = {k: row[k] for k in ("plaid_item_id", "institution_id", "item_status", "username")}
        environment = token_environment(raw_args if isinstance(raw_args, str) else None)
    else:
        arguments = ""
        columns = {k: row[k] for k in _LINK_COLUMNS}
        context = {"username": row["username"], "link_status_hint": link_status_hint(row["status"])}
        environment = None
    # The driver returns timestamptz in the server's zone; the dashboard speaks UTC.
    if columns["created_at"] is not None:  # nullable in Pattern's schema, though it defaults to now()
        columns["created_at"] = columns["created_at"].astimezone(timezone.utc)
    # Free-text columns pass through the redactor too: the event tables hold
    # whatever the server wrote.
    columns = {k: (redact_text(v) if isinstance(v, str) and k != "arguments" else v) for k, v in columns.items()}
    return EventDetail(event_ref(source, event_id), source, columns, context, arguments, environment)


# --- the page's one call ------------------------------------------------------


@dataclass(frozen=True)
class Request:
    q: str | None = None
    kind: str | None = None  # picks one match when an identifier is ambiguous
    event: str | None = None
    code: str | None = None
    method: str | None = None
    institution: str | None = None
    triage: str | None = None
    source: str | None = None  # api | link
    errors: object = None  # "1"/"true" or True: failed calls and Link errors only
    page: int = 1


@dataclass
class Result:
    """What the page shows: exactly one of the views below is filled."""

    view: str  # "prompt", "message", "choose", "event", "timeline"
    message: str | None = None
    matches: list[Match] = field(default_factory=list)
    event: EventDetail | None = None
    packet: Any = None  # dashboard.ticket.TicketPacket: the event's, or the item's latest error
    match: Match | None = None
    scope: Scope | None = None
    filters: Filters | None = None
    timeline: TimelinePage | None = None


def run(
    engine: Engine,
    request: Request,
    window: TimeWindow,
    *,
    environment: str,
    tz_name: str | None = None,
) -> Result:
    """Resolve the URL's parameters into one view. Bad input becomes a message, not an exception."""
    from dashboard.ticket import packet_for_event, packet_for_item  # ticket builds on event_detail

    try:
        filters = Filters.parse(request.code, request.method, request.institution, request.triage, request.source,
                                request.errors)
        has_q = request.q is not None and bool(str(request.q).strip())
        # A typed identifier wins over an `event` left in the URL by the previous view.
        if request.event and not has_q:
            detail = event_detail(engine, request.event)
            if detail is None:
                return Result("message", message=f"There is no event {str(request.event)[:40]!r}.")
            return Result("event", event=detail, packet=packet_for_event(engine, detail, environment=environment))
        if not has_q:
            if filters.active:
                page = timeline(engine, Scope("matching events"), window, filters, page=request.page, tz_name=tz_name)
                return Result("timeline", scope=Scope("matching events"), filters=filters, timeline=page)
            return Result("prompt")
        matches = lookup(engine, request.q)
        if request.kind:
            # a `kind` left over from an earlier pick must not hide a new identifier's matches
            matches = [m for m in matches if m.kind.value == request.kind] or matches
        if not matches:
            return Result("message", message=not_found_message(normalise(request.q)))
        if len(matches) > 1:
            return Result("choose", matches=matches)
        match = matches[0]
        if match.kind is Kind.REQUEST_ID and match.event_ref:
            detail = event_detail(engine, match.event_ref)
            if detail is not None:
                packet = packet_for_event(engine, detail, environment=environment)
                return Result("event", event=detail, packet=packet, match=match)
        scope = scope_for(match)
        page = timeline(engine, scope, window, filters, page=request.page, tz_name=tz_name)
        packet = None
        if scope.item_id is not None:
            packet = packet_for_item(engine, scope.item_id, window, environment=environment)
        return Result("timeline", match=match, scope=scope, filters=filters, timeline=page, packet=packet)
    except (IdentifierError, InvestigateError) as exc:
        return Result("message", message=str(exc))
