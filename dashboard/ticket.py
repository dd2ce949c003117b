"""The Plaid support ticket packet: what Plaid Support asks for, in one block.

Built from one event (or an item's latest error): item_id, institution_id,
request_id and/or link_session_id, error type and code, UTC ISO 8601
timestamps, method, environment, and how often the same error happened
(count, first and last seen). The packet never holds an access token: it is
built from named columns only (the token column is never selected) and every
string passes through the redactor once more on the way out.

It also says whether a ticket is the right move at all: user-action errors
need Link update mode, integration bugs need our own fix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Engine

from dashboard.database import read_rows
from dashboard.investigate import EventDetail, event_detail
from dashboard.redaction import redact_text
from dashboard.rollups import API_EVENTS_SQL, maybe_refresh, rollup_params
from dashboard.timewindow import TimeWindow
from dashboard.triage import TriageClass, classify, escalate_if_persistent

# Plaid keeps 14 days of activity logs: similar errors are counted in the
# two weeks either side of the event.
SIMILAR_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class Similar:
    scope: str  # what "similar" was counted over, in words
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    # How long the error lasted without a success in between (a success resets
    # it); the first-to-last span above would call intermittent errors persistent.
    persisting_hours: float = 0.0

    @property
    def hours_spanned(self) -> float:
        if not self.first_seen or not self.last_seen:
            return 0.0
        return (self.last_seen - self.first_seen).total_seconds() / 3600


@dataclass(frozen=True)
class TicketPacket:
    event: str  # event reference in the dashboard (`?event=`)
    source: str  # "Plaid API" or "Link"
    item_id: str | None  # Plaid's item_id (never the internal id alone)
    institution_id: str | None
    request_id: str | None
    link_session_id: str | None
    error_type: str | None
    error_code: str | None
    method: str | None
    occurred_at: str  # UTC ISO 8601
    environment: str
    similar_count: int
    similar_scope: str
    first_seen: str | None
    last_seen: str | None
    institution_similar_count: int | None
    triage_class: str
    ticket_advised: bool
    suggested_category: str | None
    advice: str
    next_step: str

    def as_dict(self) -> dict[str, Any]:
        return {k: (redact_text(v) if isinstance(v, str) else v) for k, v in asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def _fields(self) -> list[tuple[str, Any]]:
        d = self.as_dict()
        similar = f"{d['similar_count']} ({d['similar_scope']})"
        if d["first_seen"]:
            similar += f", first seen {d['first_seen']}, last seen {d['last_seen']}"
        rows = [
            ("item_id", d["item_id"]),
            ("institution_id", d["institution_id"]),
            ("request_id", d["request_id"]),
            ("link_session_id", d["link_session_id"]),
            ("error_type", d["error_type"]),
            ("error_code", d["error_code"]),
            ("method", d["method"]),
            ("timestamp (UTC)", d["occurred_at"]),
            ("environment", d["environment"]),
            ("similar errors", similar),
        ]
        if d["institution_similar_count"] is not None:
            rows.append(("same error at this institution", d["institution_similar_count"]))
        rows += [
            ("triage", d["triage_class"]),
            ("suggested ticket category", d["suggested_category"] or "none: no ticket advised"),
        ]
        return rows

    def to_text(self) -> str:
        """Plain text to paste into Plaid's support form."""
        width = max(len(k) for k, _ in self._fields())
        lines = [f"{k.ljust(width)} : {'—' if v is None else v}" for k, v in self._fields()]
        return "\n".join([*lines, "", f"Advice: {self.as_dict()['advice']}"])

    def to_markdown(self) -> str:
        def cell(v: Any) -> str:
            return "—" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

        body = "\n".join(f"| {k} | {cell(v)} |" for k, v in self._fields())
        title = f"Plaid ticket packet: {cell(self.error_code or 'no error')} ({cell(self.occurred_at)})"
        return f"# {title}\n\n| field | value |\n|---|---|\n{body}\n\n**Advice:** {cell(self.as_dict()['advice'])}\n"


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _similar(engine: Engine, detail: EventDetail) -> tuple[Similar, int | None]:
    code = detail.error_code
    t = detail.created_at
    params = {"code": code, "start": t - SIMILAR_WINDOW, "end": t + SIMILAR_WINDOW, "row_limit": 1}
    if detail.source == "api" and detail.columns["item_id"] is not None:
        sql = """SELECT count(*) AS n, min(created_at) AS first, max(created_at) AS last
                 FROM plaid_api_events_table
                 WHERE item_id = :owner AND error_code = :code AND created_at >= :start AND created_at < :end
                 LIMIT :row_limit"""
        owner, scope = detail.columns["item_id"], "same code on this item"
    elif detail.source == "link" and detail.columns["user_id"] is not None:
        sql = """SELECT count(*) AS n, min(created_at) AS first, max(created_at) AS last
                 FROM link_events_table
                 WHERE user_id = :owner AND error_code = :code AND created_at >= :start AND created_at < :end
                 LIMIT :row_limit"""
        owner, scope = detail.columns["user_id"], "same code in this user's Link sessions"
    else:
        return Similar("this event only", 1, t, t), None
    row = read_rows(engine, sql, {**params, "owner": owner})[0]
    scope += f", ±{SIMILAR_WINDOW.days} days"
    similar = Similar(scope, int(row["n"]), row["first"], row["last"],
                      _persisting_hours(engine, detail, owner, params))
    institution_count = None
    institution = detail.context.get("institution_id") if detail.source == "api" else None
    if institution:
        maybe_refresh(engine)
        inst = read_rows(  # four weeks of one institution's errors: from the rollups (dashboard.rollups)
            engine,
            f"""SELECT COALESCE(sum(e.n), 0)::bigint AS n FROM ({API_EVENTS_SQL}) e
               WHERE e.plaid_institution_id = :institution AND e.error_code = :code LIMIT :row_limit""",
            {**params, **rollup_params(params["start"], params["end"], engine), "institution": institution},
        )
        institution_count = int(inst[0]["n"])
    return similar, institution_count


def _persisting_hours(engine: Engine, detail: EventDetail, owner: Any, params: dict[str, Any]) -> float:
    """Hours between the first and last occurrence of the code in the run of
    failures that holds this event: bounded by the successes either side."""
    table, owner_col = (("plaid_api_events_table", "item_id") if detail.source == "api"
                        else ("link_events_table", "user_id"))
    # Table and column names come from the two literals above, never from input.
    sql = f"""
        WITH prev AS (SELECT max(created_at) AS t FROM {table}
                      WHERE {owner_col} = :owner AND error_code IS NULL AND error_type IS NULL
                        AND created_at >= :start AND created_at < :at),
             next AS (SELECT min(created_at) AS t FROM {table}
                      WHERE {owner_col} = :owner AND error_code IS NULL AND error_type IS NULL
                        AND created_at > :at AND created_at < :end)
        SELECT min(e.created_at) AS first, max(e.created_at) AS last
        FROM {table} e, prev, next
        WHERE e.{owner_col} = :owner AND e.error_code = :code
          AND e.created_at > coalesce(prev.t, CAST(:start AS timestamptz))
          AND e.created_at < coalesce(next.t, CAST(:end AS timestamptz))
        LIMIT :row_limit"""
    row = read_rows(engine, sql, {**params, "owner": owner, "at": detail.created_at})[0]
    if row["first"] is None or row["last"] is None:
        return 0.0
    return (row["last"] - row["first"]).total_seconds() / 3600


def advice_for(triage_class: TriageClass | None, next_step: str) -> tuple[bool, str]:
    """Whether to file a ticket, and the sentence that says so plainly."""
    if triage_class is None:
        return False, "This call succeeded: there is nothing to report to Plaid."
    if triage_class is TriageClass.USER_ACTION:
        return False, (
            "Do not file a ticket: this is a user-action error. Send the user through Link update mode "
            f"instead. {next_step}"
        )
    if triage_class is TriageClass.INTEGRATION:
        return False, f"Do not file a ticket: the problem is in our own request or configuration. {next_step}"
    if triage_class is TriageClass.TRANSIENT:
        return False, (
            "Not yet: this error is usually transient. Retry with backoff and file a ticket only if it "
            f"persists for hours. {next_step}"
        )
    if triage_class is TriageClass.PLAID_SIDE:
        return True, f"File a Plaid support ticket: only Plaid can fix this. {next_step}"
    return True, (
        f"Unclassified error: check Plaid's error docs first; if they do not help, ask Plaid Support. {next_step}"
    )


def packet_for_event(engine: Engine, detail: EventDetail, *, environment: str) -> TicketPacket:
    """The packet for one event; `environment` is used when the arguments do not reveal it."""
    cols = detail.columns
    has_error = bool(detail.error_code or detail.error_type)
    if has_error and detail.error_code and detail.created_at is not None:
        similar, inst_count = _similar(engine, detail)
    else:
        similar, inst_count = Similar("this event only", 1 if has_error else 0, None, None), None
    if has_error:
        tri = escalate_if_persistent(classify(detail.error_code, detail.error_type), similar.persisting_hours)
        cls, category, step = tri.triage_class, tri.ticket_category, tri.next_step
    else:
        cls, category, step = None, None, ""
    advised, advice = advice_for(cls, step)
    return TicketPacket(
        event=detail.ref,
        source="Plaid API" if detail.source == "api" else "Link",
        item_id=detail.context.get("plaid_item_id"),
        institution_id=detail.context.get("institution_id"),
        request_id=cols.get("request_id"),
        link_session_id=cols.get("link_session_id"),
        error_type=detail.error_type,
        error_code=detail.error_code,
        method=cols.get("plaid_method") or (f"Link {cols['type']}" if "type" in cols else None),
        occurred_at=_iso(detail.created_at) or "",
        environment=detail.environment or environment,
        similar_count=similar.count,
        similar_scope=similar.scope,
        first_seen=_iso(similar.first_seen),
        last_seen=_iso(similar.last_seen),
        institution_similar_count=inst_count,
        triage_class=cls.value if cls else "success",
        ticket_advised=advised,
        suggested_category=category if advised else None,
        advice=advice,
        next_step=step,
    )


def latest_error_ref(engine: Engine, item_id: int, window: TimeWindow) -> str | None:
    """The item's most recent failed API call in the window (an event reference), if any."""
    rows = read_rows(
        engine,
        """SELECT id FROM plaid_api_events_table
           WHERE item_id = :item_id AND error_code IS NOT NULL AND created_at >= :start AND created_at < :end
           ORDER BY created_at DESC, id DESC LIMIT :row_limit""",
        {"item_id": item_id, **window.params(), "row_limit": 1},
    )
    return str(rows[0]["id"]) if rows else None


def packet_for_item(engine: Engine, item_id: int, window: TimeWindow, *, environment: str) -> TicketPacket | None:
    """The packet for an item: built from its latest error in the window; None when it has none."""
    ref = latest_error_ref(engine, item_id, window)
    if ref is None:
        return None
    detail = event_detail(engine, ref)
    return packet_for_event(engine, detail, environment=environment) if detail else None
