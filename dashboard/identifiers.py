"""Work out what one typed identifier is, before any of it reaches SQL.

A support engineer pastes whatever the complaint or alert carried: a
request_id, a link_session_id, a plaid_item_id, an internal item or user id,
a username or an institution id. The text is validated first (length and
characters), then its shape says which kinds are possible; the database is
asked only about those, with bound parameters. Shapes overlap (an integer is
an item id or a user id; a 15-character string is a request_id or a
username), so every match is returned and the caller lets the user pick.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Engine

from dashboard.database import read_rows

MAX_LENGTH = 100
MAX_INT_ID = 2_147_483_647  # Pattern's ids are `serial` (int4)
MAX_MATCHES = 20

# Usernames in Pattern are free text; the dashboard only searches the
# characters identifiers and sensible usernames use, so quotes, semicolons,
# spaces and control characters are refused before any query is built.
_ALLOWED = re.compile(r"[A-Za-z0-9_.@+\-]+")
_INTEGER = re.compile(r"[0-9]+")
_INSTITUTION = re.compile(r"ins_[0-9]{1,12}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
# Plaid request_ids are short alphanumerics (15 characters in practice);
# item ids are longer (37). The ranges are generous so odd lengths still match.
_REQUEST_ID_LEN = range(8, 41)
_ITEM_ID_LEN = range(20, 65)


class Kind(StrEnum):
    REQUEST_ID = "request_id"
    LINK_SESSION_ID = "link_session_id"
    PLAID_ITEM_ID = "plaid_item_id"
    ITEM_ID = "item id"
    USER_ID = "user id"
    USERNAME = "username"
    INSTITUTION_ID = "institution_id"


class IdentifierError(ValueError):
    """Input that cannot be an identifier; the message says why, for the screen."""


@dataclass(frozen=True)
class Match:
    """One thing in the database the identifier names."""

    kind: Kind
    value: str  # the identifier as typed (normalised)
    label: str  # what the user sees when choosing between matches
    user_id: int | None = None
    item_id: int | None = None
    plaid_item_id: str | None = None
    institution_id: str | None = None
    link_session_id: str | None = None
    event_ref: str | None = None  # for a request_id: "123" (API event) or "link-45"

    @property
    def choice_key(self) -> str:
        """A stable key for letting the user pick this match (`kind:value`)."""
        return f"{self.kind.value}:{self.value}"


def normalise(raw: object) -> str:
    """Validate typed input; return it stripped or raise IdentifierError."""
    if raw is None:
        raise IdentifierError("Type an identifier to search for.")
    text = str(raw).strip()
    if not text:
        raise IdentifierError("Type an identifier to search for.")
    if len(text) > MAX_LENGTH:
        raise IdentifierError(
            f"That is {len(text)} characters long; identifiers are at most {MAX_LENGTH}. "
            "Paste just the id (request_id, link_session_id, item id, user id, username or ins_…)."
        )
    if not _ALLOWED.fullmatch(text):
        bad = sorted({c for c in text if not _ALLOWED.fullmatch(c)})
        shown = ", ".join(repr(c) for c in bad[:5])
        raise IdentifierError(
            f"Identifiers contain only letters, digits and _ . @ + -; this one contains {shown}."
        )
    return text


def candidate_kinds(text: str) -> list[Kind]:
    """The kinds this (already normalised) text could be, most likely first."""
    if _INTEGER.fullmatch(text):
        return [Kind.ITEM_ID, Kind.USER_ID, Kind.USERNAME] if int(text) <= MAX_INT_ID else [Kind.USERNAME]
    if _INSTITUTION.fullmatch(text):
        return [Kind.INSTITUTION_ID, Kind.USERNAME]
    if _UUID.fullmatch(text):
        return [Kind.LINK_SESSION_ID, Kind.USERNAME]
    kinds: list[Kind] = []
    if _ALNUM.fullmatch(text):
        if len(text) in _REQUEST_ID_LEN:
            kinds.append(Kind.REQUEST_ID)
        if len(text) in _ITEM_ID_LEN:
            kinds.append(Kind.PLAID_ITEM_ID)
    kinds.append(Kind.USERNAME)
    return kinds


# One lookup per kind; each is an equality on a unique or indexed column.
# The fragments are fixed text: only their bound parameters vary.
_LOOKUPS: dict[Kind, str] = {
    Kind.REQUEST_ID: """
        SELECT 'request_id' AS kind, CAST(e.id AS text) AS event_ref, e.user_id, e.item_id,
               i.plaid_item_id, i.plaid_institution_id AS institution_id, NULL AS link_session_id,
               e.plaid_method || ' ' || coalesce(e.error_code, 'ok') || ' at ' || e.created_at AS detail
        FROM plaid_api_events_table e LEFT JOIN items_table i ON i.id = e.item_id
        WHERE e.request_id = :text
        UNION ALL
        SELECT 'request_id', 'link-' || l.id, l.user_id, NULL, NULL, NULL, l.link_session_id,
               'Link ' || l.type || ' ' || coalesce(l.error_code, 'ok') || ' at ' || l.created_at
        FROM link_events_table l WHERE l.request_id = :text""",
    Kind.LINK_SESSION_ID: """
        SELECT 'link_session_id', NULL, min(l.user_id), NULL, NULL, NULL, :text,
               count(*) || ' Link event(s) from ' || min(l.created_at)
        FROM link_events_table l WHERE l.link_session_id = :text HAVING count(*) > 0""",
    Kind.PLAID_ITEM_ID: """
        SELECT 'plaid_item_id', NULL, i.user_id, i.id, i.plaid_item_id, i.plaid_institution_id, NULL,
               'item ' || i.id || ' at ' || i.plaid_institution_id || ', status ' || i.status
        FROM items_table i WHERE i.plaid_item_id = :text""",
    Kind.ITEM_ID: """
        SELECT 'item id', NULL, i.user_id, i.id, i.plaid_item_id, i.plaid_institution_id, NULL,
               'item ' || i.plaid_item_id || ' at ' || i.plaid_institution_id || ', status ' || i.status
        FROM items_table i WHERE i.id = :int_value""",
    Kind.USER_ID: """
        SELECT 'user id', NULL, u.id, NULL, NULL, NULL, NULL,
               'user ' || u.username || ' (' ||
               (SELECT count(*) FROM items_table i WHERE i.user_id = u.id) || ' item(s))'
        FROM users_table u WHERE u.id = :int_value""",
    Kind.USERNAME: """
        SELECT 'username', NULL, u.id, NULL, NULL, NULL, NULL,
               'user id ' || u.id || ' (' ||
               (SELECT count(*) FROM items_table i WHERE i.user_id = u.id) || ' item(s))'
        FROM users_table u WHERE u.username = :text""",
    Kind.INSTITUTION_ID: """
        SELECT 'institution_id', NULL, NULL, NULL, NULL, :text, NULL,
               count(*) || ' item(s) at this institution'
        FROM items_table i WHERE i.plaid_institution_id = :text HAVING count(*) > 0""",
}


def lookup(engine: Engine, raw: object) -> list[Match]:
    """Everything in the database the identifier could name (empty when nothing).

    Raises IdentifierError for input that is not an identifier at all.
    """
    text = normalise(raw)
    kinds = candidate_kinds(text)
    params: dict[str, Any] = {"text": text, "row_limit": MAX_MATCHES}
    if _INTEGER.fullmatch(text) and int(text) <= MAX_INT_ID:
        params["int_value"] = int(text)
    sql = (
        "SELECT * FROM ("
        + " UNION ALL ".join(f"({_LOOKUPS[k]})" for k in kinds)
        + ") m(kind, event_ref, user_id, item_id, plaid_item_id, institution_id, link_session_id, detail)"
        " LIMIT :row_limit"
    )
    rows = read_rows(engine, sql, params)
    order = {k: n for n, k in enumerate(kinds)}
    matches = [_to_match(text, r) for r in rows]
    return sorted(matches, key=lambda m: order[m.kind])


def _to_match(text: str, row: dict[str, Any]) -> Match:
    kind = Kind(row["kind"])
    return Match(
        kind=kind,
        value=text,
        label=f"{kind.value} {text} — {row['detail']}",
        user_id=row["user_id"],
        item_id=row["item_id"],
        plaid_item_id=row["plaid_item_id"],
        institution_id=row["institution_id"],
        link_session_id=row["link_session_id"],
        event_ref=row["event_ref"],
    )


def not_found_message(text: str) -> str:
    kinds = ", ".join(k.value for k in candidate_kinds(text))
    return f"Nothing matches {text!r}. Looked for it as: {kinds}. Check for a typo or a different environment."


def item_reference_problem(value: str) -> str | None:
    """Why `value` cannot be an item reference (internal id or plaid_item_id); None if it can."""
    try:
        text = normalise(value)
    except IdentifierError as exc:
        return str(exc)
    if _INTEGER.fullmatch(text) and int(text) > MAX_INT_ID:
        return f"Internal item ids are at most {MAX_INT_ID}."
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        return "Item ids are an internal id (digits) or a plaid_item_id (letters and digits)."
    return None


_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,79}")
_FILTER_HINTS = {
    "institution": "Institution ids look like ins_123.",
    "error_code": "Error codes look like ITEM_LOGIN_REQUIRED (capital letters, digits and _).",
}


def validate_filter(kind: str, value: object) -> str | None:
    """One free-text filter (`institution`, `error_code` or `user`), validated like a
    typed identifier: None when blank, the normalised value, or IdentifierError
    saying what the value should look like."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    shown = text[:40] + ("…" if len(text) > 40 else "")
    if kind == "institution":
        if not _INSTITUTION.fullmatch(text):
            raise IdentifierError(f"{shown!r} is not an institution id. {_FILTER_HINTS[kind]}")
        return text
    if kind == "error_code":
        text = text.upper()
        if not _ERROR_CODE.fullmatch(text):
            raise IdentifierError(f"{shown!r} is not an error code. {_FILTER_HINTS[kind]}")
        return text
    if kind == "user":
        try:
            return normalise(text)
        except IdentifierError as exc:
            raise IdentifierError(f"User filter: {exc} Type a user id or a username.") from None
    raise ValueError(f"unknown filter kind {kind!r}")
