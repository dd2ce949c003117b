"""Batches of admin actions: select items, price them, run them once, paced and cancellable.

Selection is a plain function of criteria (institution, status, an error code
seen in a window, an explicit list of plaid_item_ids from the health page, or
internal ids from a health filter), so any page can feed it. A running batch
holds a row in dashboard_admin_batches whose partial unique index on the
batch fingerprint refuses a second identical run (double click, second tab)
across processes. Calls are paced by the shared RateLimiter within Plaid's
per-Item and per-client limits and retried with backoff on RATE_LIMIT_EXCEEDED.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from dashboard import audit
from dashboard.database import read_frame, read_rows
from dashboard.health_rule import Health
from dashboard.identifiers import item_reference_problem, validate_filter
from dashboard.item_health import item_ids_by_health
from dashboard.plaid_client import LoggedPlaidClient, LogWriteError
from dashboard.rate_limits import Cancelled, RateLimiter, shared_limiter
from dashboard.refresh_actions import (
    ACTIONS,
    RESULT_COLUMNS,
    ActionNotAllowed,
    ActionResult,
    load_items,
    run_action,
)
from dashboard.timewindow import TimeWindow

_log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 5000
# The health rule runs before the other filters narrow the list, so it may return
# more ids than a batch holds; beyond this many the selection refuses rather than
# silently dropping items.
MAX_HEALTH_IDS = 100_000
DEFAULT_CONCURRENCY = 8
STALE_AFTER_S = 300  # a running batch whose heartbeat is older than this died with its process
# A second tab confirmed before the first ran would otherwise repeat the batch
# right after it: the same batch is refused for this long unless "run again".
REPEAT_AFTER_S = 600


class BatchAlreadyRunning(RuntimeError):
    pass


class ProductionNotConfirmed(RuntimeError):
    pass


class BatchRecentlyRun(RuntimeError):
    """The same batch (action, items) finished moments ago: a second tab or a late click."""


@dataclass(frozen=True)
class BatchCriteria:
    institution: str | None = None
    status: str | None = None  # good | bad
    error_code: str | None = None  # seen for the item within `window`
    window: TimeWindow | None = None
    plaid_item_ids: tuple[str, ...] = ()  # explicit list (?items=a,b,c from the health page)
    item_ids: tuple[int, ...] | None = None  # internal ids, e.g. item_health.item_ids_by_health(...)
    health: str | None = None  # a health_rule.Health value, derived as of `window`

    @property
    def empty(self) -> bool:
        return not (self.institution or self.status or self.error_code or self.plaid_item_ids
                    or self.item_ids is not None or self.health)


@dataclass(frozen=True)
class ItemSummary:
    id: int
    plaid_item_id: str
    institution: str
    status: str


@dataclass(frozen=True)
class BatchPlan:
    action: str
    items: tuple[ItemSummary, ...]
    plaid_env: str

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def billed_calls(self) -> int:
        """Calls Plaid bills per call (transactions refresh, balance): one per item."""
        return self.count if ACTIONS[self.action].billed_per_call else 0

    @property
    def min_duration_s(self) -> float:
        """The per-client limit alone makes a batch take at least this long."""
        from dashboard.rate_limits import PLAID_LIMITS

        per_client = PLAID_LIMITS.get(ACTIONS[self.action].endpoint, (0, 0))[1]
        if not per_client or self.count <= per_client:
            return 0.0
        return (math.ceil(self.count / per_client) - 1) * 60.0

    @property
    def fingerprint(self) -> str:
        ids = ",".join(str(i.id) for i in sorted(self.items, key=lambda i: i.id))
        return hashlib.sha256(f"{self.plaid_env}|{self.action}|{ids}".encode()).hexdigest()


def parse_item_list(raw: str | None) -> tuple[str, ...]:
    """`a,b,c` from the URL into plaid_item_ids (blank parts dropped, order kept, no duplicates)."""
    seen: dict[str, None] = {}
    for part in (raw or "").replace(" ", ",").split(","):
        if part.strip():
            seen[part.strip()] = None
    return tuple(seen)


# An `?items=` entry names an item by plaid_item_id or by internal id (digits).
# Nested CASE: the cast runs only on digits, and only within int4.
_LISTED_MATCH = ("(i.plaid_item_id = {v} OR i.id = CASE WHEN {v} ~ '^[0-9]{{1,10}}$' THEN "
                 "CASE WHEN CAST({v} AS bigint) <= 2147483647 THEN CAST({v} AS int) END END)")


def check_item_list(listed: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
    """Split `?items=` entries into usable ones and messages for the malformed ones."""
    usable: list[str] = []
    problems: list[str] = []
    for value in listed:
        problem = item_reference_problem(value)
        if problem is None:
            usable.append(value)
        else:
            problems.append(f"{value[:40]!r}: {problem}")
    return tuple(usable), problems


def missing_items(engine: Engine, listed: Sequence[str]) -> list[str]:
    """The `?items=` entries (plaid_item_ids or internal ids) that name no item."""
    if not listed:
        return []
    rows = read_rows(
        engine,
        "SELECT v FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS x(v, n) "
        f"WHERE NOT EXISTS (SELECT 1 FROM items_table i WHERE {_LISTED_MATCH.format(v='x.v')}) "
        "ORDER BY n LIMIT :row_limit",
        {"ids": list(listed), "row_limit": len(listed)},
    )
    return [r["v"] for r in rows]


def select_items(engine: Engine, criteria: BatchCriteria, *, row_limit: int = MAX_BATCH_ITEMS) -> list[ItemSummary]:
    """Items matching every given criterion (no criterion: no items, never "everything")."""
    if criteria.empty:
        return []
    if criteria.error_code and criteria.window is None:
        raise ValueError("An error-code filter needs a time window.")
    # Malformed filters get a message saying what they should look like, not "no items match".
    criteria = replace(criteria, institution=validate_filter("institution", criteria.institution),
                       error_code=validate_filter("error_code", criteria.error_code))
    if criteria.health:
        criteria = _with_health_ids(engine, criteria)
    window = criteria.window
    rows = read_rows(
        engine,
        """
        SELECT i.id, i.plaid_item_id, i.plaid_institution_id, i.status
        FROM items_table i
        WHERE (CAST(:institution AS text) IS NULL OR i.plaid_institution_id = :institution)
          AND (CAST(:status AS text) IS NULL OR i.status = :status)
          AND (cardinality(CAST(:plaid_ids AS text[])) = 0 OR EXISTS (
                SELECT 1 FROM unnest(CAST(:plaid_ids AS text[])) AS x(v) WHERE {listed}))
          AND (NOT :use_ids OR i.id = ANY(:ids))
          AND (CAST(:code AS text) IS NULL OR EXISTS (
                SELECT 1 FROM plaid_api_events_table e
                WHERE e.item_id = i.id AND e.error_code = :code
                  AND e.created_at >= :start AND e.created_at < :end))
        ORDER BY i.id
        LIMIT :row_limit
        """.replace("{listed}", _LISTED_MATCH.format(v="x.v")),
        {
            "institution": criteria.institution or None,
            "status": criteria.status or None,
            "plaid_ids": list(criteria.plaid_item_ids),
            "use_ids": criteria.item_ids is not None,
            "ids": list(criteria.item_ids or ()),
            "code": criteria.error_code or None,
            "start": window.start if window else None,
            "end": window.end if window else None,
            "row_limit": row_limit,
        },
    )
    return [ItemSummary(r["id"], r["plaid_item_id"], r["plaid_institution_id"], r["status"]) for r in rows]


def _with_health_ids(engine: Engine, criteria: BatchCriteria) -> BatchCriteria:
    """Turn the health filter into internal ids (intersected with any ids already given)."""
    if criteria.window is None:
        raise ValueError("A health filter needs a time window.")
    try:
        health = Health(criteria.health)
    except ValueError:
        raise ValueError(
            f"Unknown health {criteria.health!r}; choose one of: {', '.join(h.value for h in Health)}."
        ) from None
    ids = item_ids_by_health(engine, criteria.window, health, row_limit=MAX_HEALTH_IDS + 1)
    if len(ids) > MAX_HEALTH_IDS:
        raise ValueError(f"More than {MAX_HEALTH_IDS:,} items are '{health.value}'; "
                         "add an institution or status filter and a shorter window.")
    if criteria.item_ids is not None:
        given = set(criteria.item_ids)
        ids = [i for i in ids if i in given]
    return replace(criteria, item_ids=tuple(ids))


def plan_batch(action: str, items: Sequence[ItemSummary], plaid_env: str) -> BatchPlan:
    spec = ACTIONS.get(action)
    if spec is None:
        raise ActionNotAllowed(f"Unknown action {action!r}.")
    if spec.sandbox_only and plaid_env != "sandbox":
        raise ActionNotAllowed(f"{spec.label} exists only in the sandbox environment.")
    return BatchPlan(action, tuple(items), plaid_env)


@dataclass
class BatchOutcome:
    batch_id: int
    state: str  # finished | cancelled | failed
    results: list[ActionResult]
    elapsed_s: float
    audit_id: int
    error: str | None = None
    summary: dict[str, int] = field(default_factory=dict)


_ALREADY_RUNNING = ("This batch (same action, same items) is already running, perhaps from another tab. "
                    "Wait for it to finish; its results will appear below.")


def claim_batch(engine: Engine, plan: BatchPlan, actor: str, *, run_again: bool = False) -> int:
    """Register the batch as running; BatchAlreadyRunning if the same batch runs now,
    BatchRecentlyRun if it finished within REPEAT_AFTER_S and `run_again` is not set."""
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE dashboard_admin_batches SET state = 'abandoned', finished_at = now() "
                     "WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)"),
                {"stale": STALE_AFTER_S},
            )
            # Serialise claims of one fingerprint, so a claim cannot look for a
            # finished twin while that twin is still committing.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:fp))"), {"fp": plan.fingerprint})
            if not run_again:
                recent = conn.execute(
                    text("SELECT id, state, finished_at FROM dashboard_admin_batches WHERE fingerprint = :fp "
                         "AND state IN ('running', 'finished') "
                         "AND COALESCE(finished_at, now()) >= now() - make_interval(secs => :repeat) "
                         "ORDER BY id DESC LIMIT 1"),
                    {"fp": plan.fingerprint, "repeat": REPEAT_AFTER_S},
                ).first()
                if recent is not None and recent.state == "running":
                    raise BatchAlreadyRunning(_ALREADY_RUNNING)
                if recent is not None:
                    raise BatchRecentlyRun(
                        f"This batch (same action, same items) already ran as batch {recent.id}, which finished "
                        f"{recent.finished_at:%H:%M:%S} UTC, perhaps from another tab. Its results are below. "
                        "To run it again, tick \"Repeat anyway\" and press Run.")
            return int(conn.execute(
                text("INSERT INTO dashboard_admin_batches (fingerprint, actor, action, plaid_env, item_ids, total) "
                     "VALUES (:fp, :actor, :action, :env, :ids, :total) RETURNING id"),
                {"fp": plan.fingerprint, "actor": actor, "action": plan.action, "env": plan.plaid_env,
                 "ids": [i.id for i in plan.items], "total": plan.count},
            ).scalar_one())
    except IntegrityError:
        raise BatchAlreadyRunning(_ALREADY_RUNNING) from None


def _save_progress(engine: Engine, batch_id: int, results: list[ActionResult], state: str | None = None) -> None:
    import json

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE dashboard_admin_batches SET done = :done, results = CAST(:results AS jsonb), "
                 "heartbeat_at = now(), state = COALESCE(CAST(:state AS text), state), "
                 "finished_at = CASE WHEN CAST(:state AS text) IS NULL THEN NULL ELSE now() END WHERE id = :id"),
            {"done": len(results), "results": json.dumps([r.as_row() for r in results]), "state": state,
             "id": batch_id},
        )


def run_batch(
    client: LoggedPlaidClient,
    plan: BatchPlan,
    actor: str,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    limiter: RateLimiter | None = None,
    cancel: threading.Event | None = None,
    on_progress: Callable[[int, int, ActionResult | None], None] | None = None,
    production_confirmed: bool = False,
    sleep: Callable[[float], object] | None = None,
    on_claimed: Callable[[int], None] | None = None,
    run_again: bool = False,
) -> BatchOutcome:
    """Run the plan once. `on_progress(done, total, last)` is called on this thread, so a
    Streamlit page may draw from it; if it raises (e.g. the user pressed Cancel and
    Streamlit interrupts the script) in-flight calls finish and are logged, the rest
    are cancelled, the batch is audited, and the exception propagates."""
    engine = client.engine
    if plan.plaid_env == "production" and not production_confirmed:
        raise ProductionNotConfirmed("Production actions need the extra confirmation.")
    item_ids = [i.id for i in plan.items]
    try:
        batch_id = claim_batch(engine, plan, actor, run_again=run_again)
    except BatchAlreadyRunning:
        audit.record(engine, actor=actor, action=plan.action, plaid_env=plan.plaid_env, item_ids=item_ids,
                     outcome="refused: same batch already running", details={"items": plan.count})
        raise
    except BatchRecentlyRun:
        audit.record(engine, actor=actor, action=plan.action, plaid_env=plan.plaid_env, item_ids=item_ids,
                     outcome="refused: same batch just ran", details={"items": plan.count})
        raise
    if on_claimed is not None:
        on_claimed(batch_id)
    cancel = cancel or threading.Event()
    sleep = sleep or cancel.wait  # a backoff wait ends early on cancel
    limiter = limiter or shared_limiter()
    started = time.monotonic()
    results: list[ActionResult] = []
    state, error = "finished", None
    interrupt: BaseException | None = None
    refs = {r.id: r for r in load_items(engine, item_ids)}
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="admin-batch")
    try:
        futures: dict[Future[ActionResult], Any] = {}
        for summary in plan.items:
            ref = refs.get(summary.id)
            if ref is None:  # deleted since selection
                results.append(ActionResult(summary.id, summary.plaid_item_id, summary.institution, plan.action,
                                            "error", message="Item no longer exists."))
                continue
            futures[pool.submit(run_action, client, plan.action, ref, limiter=limiter, cancel=cancel,
                                sleep=sleep)] = summary
        pending = set(futures)
        last_saved = 0.0
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                summary = futures[fut]
                try:
                    results.append(fut.result())
                except Cancelled:
                    results.append(ActionResult(summary.id, summary.plaid_item_id, summary.institution,
                                                plan.action, "cancelled", message="Cancelled before the call."))
                except LogWriteError as exc:
                    state, error = "failed", str(exc)
                    cancel.set()
                    results.append(ActionResult(summary.id, summary.plaid_item_id, summary.institution,
                                                plan.action, "error", error_code="LOG_WRITE_FAILED",
                                                message=str(exc)))
                except Exception as exc:  # a bug must not leave the batch locked
                    _log.exception("admin action failed")
                    results.append(ActionResult(summary.id, summary.plaid_item_id, summary.institution,
                                                plan.action, "error", message=f"Internal error: {type(exc).__name__}"))
            if time.monotonic() - last_saved > 1.0:
                _save_progress(engine, batch_id, results)
                last_saved = time.monotonic()
            if on_progress is not None and interrupt is None:
                try:
                    on_progress(len(results), plan.count, results[-1] if results else None)
                except BaseException as exc:  # Streamlit's stop/rerun on Cancel
                    interrupt = exc
                    cancel.set()
            if cancel.is_set() and state == "finished":
                state = "cancelled"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    # Work that never started because of a cancel.
    seen = {r.item_id for r in results}
    for summary in plan.items:
        if summary.id not in seen:
            results.append(ActionResult(summary.id, summary.plaid_item_id, summary.institution, plan.action,
                                        "cancelled", message="Cancelled before the call."))
    order = {s.id: n for n, s in enumerate(plan.items)}
    results.sort(key=lambda r: order.get(r.item_id, len(order)))  # plan order, not completion order
    _save_progress(engine, batch_id, results, state)
    summary_counts: dict[str, int] = {}
    for r in results:
        summary_counts[r.outcome] = summary_counts.get(r.outcome, 0) + 1
    audit_id = audit.record(
        engine,
        actor=actor,
        action=plan.action,
        plaid_env=plan.plaid_env,
        item_ids=item_ids,
        outcome=f"{state}: " + ", ".join(f"{v} {k}" for k, v in sorted(summary_counts.items())),
        request_ids=[rid for r in results for rid in r.request_ids],
        details={"batch_id": batch_id, "items": plan.count, "billed_calls": plan.billed_calls,
                 "calls": sum(r.calls for r in results), "simulated": client.simulated, "error": error},
    )
    outcome = BatchOutcome(batch_id, state, results, time.monotonic() - started, audit_id, error, summary_counts)
    if interrupt is not None:
        raise interrupt
    if error:
        raise LogWriteError(error)
    return outcome


def recent_batches(engine: Engine, window: TimeWindow, *, row_limit: int = 50) -> Any:
    """Batches started in the window, newest first (without their result lists)."""
    return read_frame(
        engine,
        "SELECT id, started_at, finished_at, actor, action, plaid_env, state, done, total "
        "FROM dashboard_admin_batches WHERE started_at >= :start "
        "AND (CAST(:end AS timestamptz) IS NULL OR started_at < :end) "
        "ORDER BY started_at DESC, id DESC LIMIT :row_limit",
        {**audit.open_ended(window), "row_limit": row_limit},
    )


def batch_results(engine: Engine, batch_id: int) -> list[dict[str, Any]]:
    rows = read_rows(
        engine,
        "SELECT results FROM dashboard_admin_batches WHERE id = :id LIMIT :row_limit",
        {"id": batch_id, "row_limit": 1},
    )
    if not rows:
        return []
    # jsonb does not keep key order; give the rows back in the order the page shows them.
    return [{k: r.get(k) for k in RESULT_COLUMNS} for r in rows[0]["results"]]


def running_count(engine: Engine) -> int:
    """Batches running now (in any process or tab)."""
    rows = read_rows(
        engine,
        "SELECT count(*) AS n FROM (SELECT 1 FROM dashboard_admin_batches WHERE state = 'running' "
        "AND heartbeat_at >= now() - make_interval(secs => :stale) LIMIT :row_limit) r",
        {"stale": STALE_AFTER_S, "row_limit": 1000},
    )
    return int(rows[0]["n"])
