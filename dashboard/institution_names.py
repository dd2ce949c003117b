"""Institution names: cached in dashboard_institutions, fetched from Plaid on a miss.

Pages never call Plaid on every render: a name fetched once (through
/institutions/get_by_id, passed in as `fetch`) is cached in the
dashboard-owned table and refreshed after CACHE_DAYS. Without credentials
(no `fetch`) the cache is still used; on demo data the demo names fill in;
otherwise the id itself is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from dashboard.config import Settings
from dashboard.database import read_rows
from dashboard.institutions import DEMO_INSTITUTION_NAMES
from dashboard.redaction import redact_for_log
from dashboard.timewindow import utc_now

_log = logging.getLogger(__name__)

CACHE_DAYS = 30
MAX_FETCHES = 25  # per call, so one page view never fans out into hundreds of Plaid calls

NameFetcher = Callable[[str], "str | None"]


def cached_names(engine: Engine, ids: Iterable[str]) -> dict[str, tuple[str, object]]:
    """id -> (name, fetched_at) for the ids in the cache."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = read_rows(
        engine,
        "SELECT plaid_institution_id, name, fetched_at FROM dashboard_institutions "
        "WHERE plaid_institution_id = ANY(:ids) ORDER BY plaid_institution_id LIMIT :row_limit",
        {"ids": wanted, "row_limit": len(wanted)},
    )
    return {r["plaid_institution_id"]: (r["name"], r["fetched_at"]) for r in rows}


def store_name(engine: Engine, institution_id: str, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO dashboard_institutions (plaid_institution_id, name, fetched_at) "
                "VALUES (:id, :name, now()) ON CONFLICT (plaid_institution_id) "
                "DO UPDATE SET name = EXCLUDED.name, fetched_at = EXCLUDED.fetched_at"
            ),
            {"id": institution_id, "name": name},
        )


def resolve_names(
    engine: Engine,
    ids: Iterable[str],
    fetch: NameFetcher | None = None,
    *,
    demo: bool = False,
) -> dict[str, str]:
    """A display name for every id: cache, then Plaid (`fetch`), then demo names, then the id."""
    wanted = sorted({i for i in ids if i})
    cache = cached_names(engine, wanted)
    stale_before = utc_now() - timedelta(days=CACHE_DAYS)
    names = {i: cache[i][0] for i in wanted if i in cache}
    if fetch is not None:
        todo = [i for i in wanted if i not in cache or cache[i][1] < stale_before][:MAX_FETCHES]
        for institution_id in todo:
            try:
                name = fetch(institution_id)
            except Exception as exc:  # a Plaid outage must not break the page; the id is shown instead
                _log.warning("institution name lookup failed for %s: %s", institution_id,
                             redact_for_log(type(exc).__name__))
                continue
            if not name:
                continue
            names[institution_id] = name
            try:
                store_name(engine, institution_id, name)
            except SQLAlchemyError as exc:  # e.g. a read-only database user: keep the name for this view
                _log.warning("could not cache institution name: %s", type(exc).__name__)
    for institution_id in wanted:
        if institution_id not in names:
            names[institution_id] = (DEMO_INSTITUTION_NAMES.get(institution_id) if demo else None) or institution_id
    return names


NAME_TIMEOUT = (3.0, 5.0)  # (connect, read) s: a page render waits on these calls


def plaid_name_fetcher(settings: Settings, engine: Engine) -> NameFetcher | None:
    """The `fetch` for resolve_names: /institutions/get_by_id through the logged client.

    Only with real Plaid credentials. When Plaid is simulated the stand-in would
    answer with the demo names anyway, so no call is made (and no simulated
    institutionsGetById rows pile up in plaid_api_events_table): the demo names
    or the ids are shown. The client is built on the first cache miss only.
    """
    if settings.plaid_simulated:
        return None
    from dashboard.plaid_client import fetch_institution_name, make_client

    client = None

    def fetch(institution_id: str) -> str | None:
        nonlocal client
        if client is None:
            client = make_client(settings, engine)
            client.timeout = NAME_TIMEOUT
        return fetch_institution_name(client, institution_id)

    return fetch
