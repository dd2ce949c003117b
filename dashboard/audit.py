"""The admin audit trail: who did what, when, to which items, with what outcome.

Rows go to dashboard_audit_log (db/init/100_dashboard_tables.sql). Details
are redacted before they are stored, so the audit view can never leak a token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard.database import read_frame
from dashboard.redaction import redact_value
from dashboard.timewindow import PRESETS, TimeWindow

DEFAULT_ROW_LIMIT = 500


def record(
    engine: Engine,
    *,
    actor: str,
    action: str,
    plaid_env: str,
    item_ids: Sequence[int],
    outcome: str,
    request_ids: Sequence[str] = (),
    details: dict[str, Any] | None = None,
) -> int:
    """Write one audit row; returns its id. Failures propagate: an admin action must be audited."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO dashboard_audit_log (actor, action, plaid_env, item_ids, outcome, request_ids, "
                    "details) VALUES (:actor, :action, :env, :items, :outcome, :rids, CAST(:details AS jsonb)) "
                    "RETURNING id"
                ),
                {
                    "actor": actor,
                    "action": action,
                    "env": plaid_env,
                    "items": [int(i) for i in item_ids],
                    "outcome": outcome,
                    "rids": [r for r in request_ids if r],
                    "details": json.dumps(redact_value(details or {}), default=str),
                },
            ).scalar_one()
        )


def audit_frame(engine: Engine, window: TimeWindow, *, row_limit: int = DEFAULT_ROW_LIMIT) -> pd.DataFrame:
    """Audit rows in the window, newest first, with the Plaid item ids people recognise."""
    return read_frame(
        engine,
        """
        SELECT a.id, a.created_at, a.actor, a.action, a.plaid_env, a.outcome,
               cardinality(a.item_ids) AS items,
               (SELECT string_agg(i.plaid_item_id, ' ' ORDER BY i.plaid_item_id)
                  FROM (SELECT it.plaid_item_id FROM items_table it
                         WHERE it.id = ANY(a.item_ids) ORDER BY it.plaid_item_id LIMIT 20) i) AS plaid_item_ids,
               cardinality(a.request_ids) AS request_count,
               array_to_string(a.request_ids[1:20], ' ') AS request_ids,
               a.details::text AS details
        FROM dashboard_audit_log a
        WHERE a.created_at >= :start AND (CAST(:end AS timestamptz) IS NULL OR a.created_at < :end)
        ORDER BY a.created_at DESC, a.id DESC
        LIMIT :row_limit
        """,
        {**open_ended(window), "row_limit": row_limit},
    )


def open_ended(window: TimeWindow) -> dict[str, object]:
    """A preset window ("last 24 h") runs up to this second, not to the minute utc_now
    floors to: an action just taken must show in the trail at once."""
    return {"start": window.start, "end": window.end if window.key not in PRESETS else None}
