"""Demo data: a realistic Pattern-shaped database (`python -m dashboard seed`).

Everything is generated inside PostgreSQL with generate_series, so ten
million events take minutes, not hours. random() is seeded with setseed()
and parallel plans are switched off, so a given (seed, anchor, events)
always produces the same rows.

The data carries stories a support engineer should find (see `Stories`):
an outage at one institution, a wave of ITEM_LOGIN_REQUIRED that turns items
bad, a rate-limit burst from one item, and a handful of Plaid-side errors.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from dashboard.institutions import DEMO_INSTITUTIONS
from dashboard.rollups import refresh_rollups
from dashboard.schema import init_db

_log = logging.getLogger(__name__)

DEFAULT_EVENTS = 200_000
CHUNK = 500_000

OUTAGE_INSTITUTION = "ins_109511"  # Tartan Bank
WAVE_INSTITUTION = "ins_109509"  # First Gingham Credit Union
BURST_INSTITUTION = "ins_109508"  # First Platypus Bank
WAVE_SHARE = 0.4  # share of the wave institution's items that break
BASE_ERROR_RATE = 0.025

# (error_type, error_code, weight) for the background error mix: every triage class.
BASE_ERRORS: tuple[tuple[str, str, int], ...] = (
    ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED", 8),
    ("ITEM_ERROR", "INVALID_CREDENTIALS", 3),
    ("ITEM_ERROR", "INVALID_MFA", 2),
    ("ITEM_ERROR", "ITEM_LOCKED", 1),
    ("ITEM_ERROR", "USER_SETUP_REQUIRED", 1),
    ("ITEM_ERROR", "NO_ACCOUNTS", 1),
    ("ITEM_ERROR", "PRODUCT_NOT_READY", 7),
    ("INSTITUTION_ERROR", "INSTITUTION_DOWN", 5),
    ("INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING", 7),
    ("INSTITUTION_ERROR", "INSTITUTION_NOT_AVAILABLE", 2),
    ("API_ERROR", "INTERNAL_SERVER_ERROR", 4),
    ("API_ERROR", "PLANNED_MAINTENANCE", 1),
    ("RATE_LIMIT_EXCEEDED", "ACCOUNTS_LIMIT", 2),
    ("RATE_LIMIT_EXCEEDED", "RATE_LIMIT", 1),
    ("INVALID_INPUT", "INVALID_ACCESS_TOKEN", 2),
    ("INVALID_INPUT", "INVALID_API_KEYS", 1),
    ("INVALID_REQUEST", "INVALID_FIELD", 2),
    ("INVALID_REQUEST", "MISSING_FIELDS", 1),
    ("INVALID_INPUT", "ITEM_NOT_FOUND", 1),
    ("TRANSACTIONS_ERROR", "TRANSACTIONS_SYNC_MUTATION_DURING_PAGINATION", 3),
)
# Special codes the stories use; ids 1..3 in seed_errors.
STORY_ERRORS: tuple[tuple[str, str], ...] = (
    ("ITEM_ERROR", "ITEM_LOGIN_REQUIRED"),
    ("INSTITUTION_ERROR", "INSTITUTION_DOWN"),
    ("INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING"),
    ("RATE_LIMIT_EXCEEDED", "TRANSACTIONS_REFRESH_LIMIT"),
    ("INSTITUTION_ERROR", "INSTITUTION_NO_LONGER_SUPPORTED"),
    ("ITEM_ERROR", "UNSUPPORTED_RESPONSE"),
    ("INSTITUTION_ERROR", "INSTITUTION_REGISTRATION_REQUIRED"),
)
# (plaid_method, has access token, weight)
METHODS: tuple[tuple[str, bool, int], ...] = (
    ("transactionsSync", True, 110),
    ("accountsGet", True, 28),
    ("transactionsRefresh", True, 8),
    ("itemGet", True, 8),
    ("accountsBalanceGet", True, 4),
    ("sandboxItemResetLogin", True, 1),
    ("linkTokenCreate", False, 18),
    ("itemPublicTokenExchange", False, 8),
    ("institutionsGetById", False, 12),
    ("institutionsGet", False, 1),
    ("itemRemove", False, 2),  # of items deleted since: item_id is NULL
)
# Link errors (error_type, error_code, weight) for exits after a failure.
LINK_ERRORS: tuple[tuple[str, str, int], ...] = (
    ("ITEM_ERROR", "INVALID_CREDENTIALS", 30),
    ("ITEM_ERROR", "INVALID_MFA", 10),
    ("ITEM_ERROR", "ITEM_LOCKED", 4),
    ("INSTITUTION_ERROR", "INSTITUTION_DOWN", 7),
    ("INSTITUTION_ERROR", "INSTITUTION_NOT_RESPONDING", 7),
    ("ITEM_ERROR", "USER_INPUT_TIMEOUT", 5),
    ("ITEM_ERROR", "NO_ACCOUNTS", 4),
    ("INVALID_INPUT", "INVALID_LINK_TOKEN", 3),
    ("API_ERROR", "INTERNAL_SERVER_ERROR", 2),
    ("ITEM_ERROR", "ITEM_NOT_SUPPORTED", 3),
    ("ITEM_ERROR", "MFA_NOT_SUPPORTED", 2),
    ("INSTITUTION_ERROR", "INSTITUTION_NO_LONGER_SUPPORTED", 1),
)
LINK_EXIT_STATUSES = (
    "requires_credentials",
    "requires_credentials",
    "requires_credentials",
    "requires_questions",
    "requires_selections",
    "requires_code",
    "choose_device",
    "requires_account_selection",
    "requires_oauth",
    "institution_not_found",
    "institution_not_supported",
)
# Share of traffic per UTC hour (US business hours peak), sums to 100.
HOUR_WEIGHTS = (5, 5, 3, 2, 1, 1, 1, 1, 1, 1, 2, 2, 3, 5, 6, 7, 7, 7, 7, 7, 7, 6, 7, 6)


class SeedRefused(Exception):
    """The database already holds data; seeding would mix demo rows into it."""


@dataclass(frozen=True)
class Stories:
    """Where the demo data's stories are, relative to the anchor time."""

    anchor: datetime
    outage_institution: str
    outage_start: datetime
    outage_end: datetime
    wave_institution: str
    wave_start: datetime
    burst_institution: str
    burst_start: datetime
    burst_end: datetime

    @classmethod
    def at(cls, anchor: datetime) -> Stories:
        hour = anchor.replace(minute=0, second=0, microsecond=0)
        return cls(
            anchor=anchor,
            outage_institution=OUTAGE_INSTITUTION,
            outage_start=hour - timedelta(hours=20),
            outage_end=hour - timedelta(hours=16),
            wave_institution=WAVE_INSTITUTION,
            wave_start=hour - timedelta(days=3),
            burst_institution=BURST_INSTITUTION,
            burst_start=hour - timedelta(hours=5),
            burst_end=hour - timedelta(hours=5) + timedelta(minutes=10),
        )

    def as_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class SeedPlan:
    events: int
    seed: int
    anchor: datetime

    @property
    def users(self) -> int:
        return max(40, self.events // 500)

    @property
    def link_events(self) -> int:
        return max(200, self.events // 25)

    @property
    def outage_events(self) -> int:
        return max(300, self.events // 100)

    @property
    def burst_events(self) -> int:
        return max(200, self.events // 500)

    @property
    def plaid_side_events(self) -> int:
        return max(12, self.events // 50_000)

    @property
    def base_events(self) -> int:
        return self.events - self.outage_events - self.burst_events - self.plaid_side_events


def _expanded(weights: list[tuple[Any, int]]) -> list[Any]:
    return [value for value, w in weights for _ in range(w)]


def _ensure_empty(conn: Connection) -> None:
    seeded = conn.execute(text("SELECT count(*) FROM dashboard_seed_runs")).scalar_one()
    if seeded:
        raise SeedRefused(
            "This database was already seeded with demo data; nothing was changed. "
            "Run `make clear-db` first to start over."
        )
    counts = {
        t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
        for t in ("users_table", "items_table", "link_events_table", "plaid_api_events_table")
    }
    busy = {t: n for t, n in counts.items() if n}
    if busy:
        listed = ", ".join(f"{n} rows in {t}" for t, n in busy.items())
        raise SeedRefused(
            f"This database already holds data ({listed}); demo data is only written "
            "into an empty database, so nothing was changed."
        )


def _hex_id(expr: str, length: int) -> str:
    """SQL for a Plaid-looking alphanumeric id derived from md5 (deterministic)."""
    return (
        f"substr(translate(encode(decode(md5({expr}) || md5({expr} || 'x'), 'hex'), 'base64'), "
        f"'+/=', 'kQz'), 1, {length})"
    )


def _uuid(expr: str) -> str:
    return (
        f"(substr(md5({expr}),1,8) || '-' || substr(md5({expr}),9,4) || '-4' || "
        f"substr(md5({expr}),14,3) || '-a' || substr(md5({expr}),18,3) || '-' || substr(md5({expr}),21,12))"
    )


def _time_expr() -> str:
    """A timestamp in [anchor - 30 days, anchor) with the daily rhythm of HOUR_WEIGHTS."""
    hours = _expanded(list(enumerate(HOUR_WEIGHTS)))
    hour_array = "ARRAY[" + ",".join(str(h) for h in hours) + "]"
    raw = (
        "(date_trunc('day', CAST(:anchor AS timestamptz) - interval '31 days') "
        "+ floor(random() * 32) * interval '1 day' "
        f"+ ({hour_array})[1 + floor(random() * {len(hours)})::int] * interval '1 hour' "
        "+ random() * interval '1 hour')"
    )
    return raw


def _fold_time(col: str) -> str:
    return (
        f"CASE WHEN {col} >= CAST(:anchor AS timestamptz) THEN {col} - interval '30 days' "
        f"WHEN {col} < CAST(:anchor AS timestamptz) - interval '30 days' THEN {col} + interval '30 days' "
        f"ELSE {col} END"
    )


def _arguments_sql() -> str:
    """The `arguments` JSON text Pattern writes for each method (tokens included)."""
    # `"count":100` would read as a bind parameter to text(): escape such colons.
    return re.sub(r'":(?=[A-Za-z0-9])', r'"\\:', _ARGUMENTS_CASE)


_ARGUMENTS_CASE = f"""CASE m.method
      WHEN 'transactionsSync' THEN '[{{"access_token":"' || it.token || '","cursor":'
           || CASE WHEN r.r_misc < 0.1 THEN 'null' ELSE '"' || it.cursor || '"' END || ',"count":100}}]'
      WHEN 'linkTokenCreate' THEN '[{{"user":{{"client_user_id":"' || it.user_id
           || '"}},"client_name":"Pattern","products":["transactions"],"country_codes":["US"],'
           || '"language":"en","webhook":"https://pattern.example.com/services/webhook"}}]'
      WHEN 'itemPublicTokenExchange' THEN '[{{"public_token":"public-sandbox-' || {_uuid("'pt' || r.g")} || '"}}]'
      WHEN 'institutionsGetById' THEN '[{{"institution_id":"' || it.institution
           || '","country_codes":["US"],"options":{{"include_optional_metadata":true}}}}]'
      WHEN 'institutionsGet' THEN '[{{"count":500,"offset":0,"country_codes":["US"]}}]'
      WHEN 'itemRemove' THEN '[{{"access_token":"access-sandbox-' || {_uuid("'gone' || r.g")} || '"}}]'
      ELSE '[{{"access_token":"' || it.token || '"}}]'
    END"""


def _setup(conn: Connection, plan: SeedPlan, stories: Stories) -> None:
    conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    conn.execute(text("SET LOCAL synchronous_commit = off"))
    conn.execute(text("SELECT setseed(:s)"), {"s": (plan.seed % 2_000_000) / 2_000_000.0})
    p = {"seed": str(plan.seed), "anchor": plan.anchor}

    conn.execute(text("CREATE TEMP TABLE seed_institutions (slot int, institution text) ON COMMIT DROP"))
    slots = _expanded([(i, w) for i, _, w in DEMO_INSTITUTIONS])
    conn.execute(
        text("INSERT INTO seed_institutions VALUES (:slot, :ins)"),
        [{"slot": n + 1, "ins": ins} for n, ins in enumerate(slots)],
    )
    conn.execute(
        text(
            "INSERT INTO users_table (username, created_at, updated_at) "
            "SELECT 'demo-user-' || lpad(g::text, 6, '0'), t, t FROM ("
            "  SELECT g, CAST(:anchor AS timestamptz) - (40 + random() * 400) * interval '1 day' AS t"
            "  FROM generate_series(1, :n) g) s ORDER BY g"
        ),
        {**p, "n": plan.users},
    )
    # 1-3 items per user, 10% of users have none yet (they only appear in Link events).
    # Items broken by the login wave are 'bad' from the start: an UPDATE would
    # fire Pattern's updated_at trigger and make the data depend on the clock.
    # Their tokens name the stand-in's login_required scenario, so an "Item
    # status" check answers ITEM_LOGIN_REQUIRED instead of a hash's guess.
    conn.execute(
        text(
            f"""
            INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, plaid_institution_id,
                                     status, created_at, updated_at, transactions_cursor)
            SELECT id,
                   'access-sandbox-' || CASE WHEN bad THEN 'login-required-' ELSE '' END
                     || {_uuid("'tok' || :seed || '-' || id || '-' || k")},
                   {_hex_id("'item' || :seed || '-' || id || '-' || k", 37)},
                   institution,
                   CASE WHEN bad THEN 'bad' ELSE 'good' END,
                   created,
                   created + (random() * 20) * interval '1 day',
                   {_hex_id("'cur' || :seed || '-' || id || '-' || k", 40)}
            FROM (SELECT y.*, (bad_r < 0.01 OR (institution = :wave_ins AND wave_r < :wave_share)) AS bad
            FROM (
              SELECT u.id, u.k, u.bad_r, u.wave_r,
                     (SELECT institution FROM seed_institutions
                       WHERE slot = 1 + floor(u.ins_r * {len(slots)})::int) AS institution,
                     u.created_at + (u.age_r * 20) * interval '1 day' AS created
              FROM (SELECT u.id, u.created_at, k, random() AS ins_r, random() AS bad_r,
                           random() AS keep_r, random() AS n_r, random() AS wave_r, random() AS age_r
                    FROM users_table u CROSS JOIN generate_series(1, 3) k
                    ORDER BY u.id, k) u
              WHERE u.keep_r >= 0.1 AND u.k <= 1 + floor(u.n_r * 2.2)::int
            ) y) x
            ORDER BY id, k
            """
        ),
        {**p, "wave_ins": stories.wave_institution, "wave_share": WAVE_SHARE},
    )
    conn.execute(
        text(
            """
            CREATE TEMP TABLE seed_items ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY i.id)::int AS rn, i.id, i.user_id,
                   i.plaid_access_token AS token, i.plaid_institution_id AS institution,
                   i.transactions_cursor AS cursor,
                   (i.plaid_institution_id = :wave_ins AND i.status = 'bad') AS wave,
                   CAST(:wave_start AS timestamptz) + random() * interval '6 hours' AS break_at
            FROM items_table i ORDER BY i.id;
            CREATE UNIQUE INDEX ON seed_items (rn);
            ANALYZE seed_items;
            """
        ),
        {"wave_ins": stories.wave_institution, "wave_start": stories.wave_start},
    )
    conn.execute(
        text(
            f"""
            INSERT INTO accounts_table (item_id, plaid_account_id, name, mask, official_name,
                current_balance, available_balance, iso_currency_code, type, subtype, created_at, updated_at)
            SELECT s.id, {_hex_id("'acct' || :seed || '-' || s.id || '-' || k", 37)},
                   (ARRAY['Plaid Checking','Plaid Saving','Plaid Credit Card'])[k],
                   lpad((floor(random() * 10000))::int::text, 4, '0'),
                   (ARRAY['Plaid Gold Standard 0% Interest Checking','Plaid Silver Standard 0.1% Interest Saving',
                          'Plaid Diamond 12.5% APR Interest Credit Card'])[k],
                   round((random() * 20000)::numeric, 2), round((random() * 15000)::numeric, 2), 'USD',
                   (ARRAY['depository','depository','credit'])[k],
                   (ARRAY['checking','savings','credit card'])[k],
                   CAST(:anchor AS timestamptz) - interval '35 days',
                   CAST(:anchor AS timestamptz) - random() * interval '2 days'
            FROM seed_items s CROSS JOIN generate_series(1, 3) k
            WHERE k <= 1 + (s.rn % 3)
            ORDER BY s.id, k
            """
        ),
        p,
    )
    conn.execute(
        text(
            f"""
            INSERT INTO transactions_table (account_id, plaid_transaction_id, plaid_category_id, category,
                type, name, amount, iso_currency_code, date, pending, created_at, updated_at)
            SELECT a.id, {_hex_id("'txn' || :seed || '-' || a.id || '-' || k", 37)},
                   (ARRAY['13005000','22001000','18020004','16001000'])[1 + (k % 4)],
                   (ARRAY['Food and Drink','Travel','Service','Payment'])[1 + (k % 4)],
                   'place', (ARRAY['Starbucks','Uber','Touchstone Climbing','CREDIT CARD 3333 PAYMENT'])[1 + (k % 4)],
                   round((random() * 200)::numeric, 2), 'USD',
                   (CAST(:anchor AS timestamptz) - random() * interval '30 days')::date, random() < 0.1,
                   CAST(:anchor AS timestamptz) - interval '30 days', CAST(:anchor AS timestamptz) - interval '30 days'
            FROM accounts_table a CROSS JOIN generate_series(1, 4) k
            ORDER BY a.id, k
            """
        ),
        p,
    )
    conn.execute(
        text(
            "INSERT INTO assets_table (user_id, value, description) "
            "SELECT id, round((random() * 500000)::numeric, 2), 'Home' FROM users_table WHERE id % 3 = 0 ORDER BY id"
        )
    )
    conn.execute(text("CREATE TEMP TABLE seed_errors (id int, error_type text, error_code text) ON COMMIT DROP"))
    errors = list(STORY_ERRORS) + _expanded([((t, c), w) for t, c, w in BASE_ERRORS])
    conn.execute(
        text("INSERT INTO seed_errors VALUES (:id, :t, :c)"),
        [{"id": n + 1, "t": t, "c": c} for n, (t, c) in enumerate(errors)],
    )
    conn.execute(text("CREATE TEMP TABLE seed_methods (slot int, method text, has_token bool) ON COMMIT DROP"))
    methods = _expanded([((m, tok), w) for m, tok, w in METHODS])
    conn.execute(
        text("INSERT INTO seed_methods VALUES (:slot, :m, :tok)"),
        [{"slot": n + 1, "m": m, "tok": tok} for n, (m, tok) in enumerate(methods)],
    )


def _insert_api_events(conn: Connection, select_sql: str, params: dict[str, Any]) -> None:
    conn.execute(
        text(
            "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, arguments, request_id, "
            f"error_type, error_code, created_at) {select_sql} ON CONFLICT (request_id) DO NOTHING"
        ),
        params,
    )


def _event_select(source_sql: str) -> str:
    """Turn rows (g, item_rn, method_slot, err_id, t, r_misc) into event columns."""
    return f"""
        SELECT CASE WHEN m.has_token THEN it.id END,
               CASE WHEN m.has_token THEN it.user_id END,
               m.method,
               {_arguments_sql()},
               CASE WHEN e.id IS NOT NULL THEN {_hex_id("'req' || :seed || '-' || r.g", 15)} END,
               e.error_type, e.error_code, r.t
        FROM ({source_sql}) r
        JOIN seed_items it ON it.rn = r.item_rn
        JOIN seed_methods m ON m.slot = r.method_slot
        LEFT JOIN seed_errors e ON e.id = r.err_id
        ORDER BY r.g
    """


def _base_chunk(conn: Connection, plan: SeedPlan, stories: Stories, lo: int, hi: int, n_items: int) -> None:
    n_methods = sum(w for _, _, w in METHODS)
    n_base_errors = sum(w for _, _, w in BASE_ERRORS)
    source = f"""
        SELECT x.g, x.item_rn, x.method_slot, x.t, x.r_misc,
               CASE
                 WHEN NOT mm.has_token THEN CASE WHEN x.r_err < {BASE_ERROR_RATE / 3} THEN x.err_slot END
                 WHEN si.wave AND x.t >= si.break_at THEN 1
                 WHEN si.institution = :outage_ins AND x.t >= :outage_start AND x.t < :outage_end
                      AND x.r_out < 0.9 THEN CASE WHEN x.r_out < 0.5 THEN 2 ELSE 3 END
                 WHEN x.r_err < {BASE_ERROR_RATE} THEN x.err_slot
               END AS err_id
        FROM (
          SELECT g, 1 + floor(random() * {n_items})::int AS item_rn,
                 1 + floor(random() * {n_methods})::int AS method_slot,
                 random() AS r_err,
                 {len(STORY_ERRORS)} + 1 + floor(random() * {n_base_errors})::int AS err_slot,
                 {_fold_time("t0")} AS t, random() AS r_out, random() AS r_misc
          FROM (SELECT g, {_time_expr()} AS t0 FROM generate_series(:lo, :hi) g) raw
        ) x
        JOIN seed_items si ON si.rn = x.item_rn
        JOIN seed_methods mm ON mm.slot = x.method_slot
    """
    _insert_api_events(
        conn,
        _event_select(source),
        {
            "seed": str(plan.seed),
            "anchor": plan.anchor,
            "lo": lo,
            "hi": hi,
            "outage_ins": stories.outage_institution,
            "outage_start": stories.outage_start,
            "outage_end": stories.outage_end,
        },
    )


def _story_events(conn: Connection, plan: SeedPlan, stories: Stories, first_g: int) -> None:
    params: dict[str, Any] = {"seed": str(plan.seed), "anchor": plan.anchor}
    sync_slot = "(SELECT min(slot) FROM seed_methods WHERE method = 'transactionsSync')"
    refresh_slot = "(SELECT min(slot) FROM seed_methods WHERE method = 'transactionsRefresh')"
    # Outage: retries pile up on the institution's items for four hours.
    g0 = first_g
    outage = f"""
        WITH pool AS (SELECT array_agg(rn ORDER BY rn) AS rns FROM seed_items WHERE institution = :ins)
        SELECT g, pool.rns[1 + floor(random() * cardinality(pool.rns))::int] AS item_rn,
               {sync_slot} AS method_slot,
               CAST(:start AS timestamptz) + random() * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz)) AS t,
               random() AS r_misc,
               CASE WHEN random() < 0.9 THEN 2 + floor(random() * 2)::int END AS err_id
        FROM generate_series(:lo, :hi) g CROSS JOIN pool
    """
    _insert_api_events(
        conn,
        _event_select(outage),
        {
            **params,
            "ins": stories.outage_institution,
            "start": stories.outage_start,
            "end": stories.outage_end,
            "lo": g0,
            "hi": g0 + plan.outage_events - 1,
        },
    )
    g0 += plan.outage_events
    # Burst: one item hammers /transactions/refresh for ten minutes.
    burst = f"""
        SELECT g, (SELECT min(rn) FROM seed_items WHERE institution = :ins AND NOT wave) AS item_rn,
               {refresh_slot} AS method_slot,
               CAST(:start AS timestamptz) + random() * interval '10 minutes' AS t,
               random() AS r_misc,
               CASE WHEN random() < 0.85 THEN 4 END AS err_id
        FROM generate_series(:lo, :hi) g
    """
    _insert_api_events(
        conn,
        _event_select(burst),
        {
            **params,
            "ins": stories.burst_institution,
            "start": stories.burst_start,
            "lo": g0,
            "hi": g0 + plan.burst_events - 1,
        },
    )
    g0 += plan.burst_events
    # A handful of errors only Plaid can fix, spread over the month.
    n_items = conn.execute(text("SELECT count(*) FROM seed_items")).scalar_one()
    plaid_side = f"""
        SELECT g, 1 + floor(random() * {n_items})::int AS item_rn, {sync_slot} AS method_slot,
               CAST(:anchor AS timestamptz) - random() * interval '29 days' AS t,
               random() AS r_misc, 5 + floor(random() * 3)::int AS err_id
        FROM generate_series(:lo, :hi) g
    """
    _insert_api_events(
        conn, _event_select(plaid_side), {**params, "lo": g0, "hi": g0 + plan.plaid_side_events - 1}
    )


def _link_events(conn: Connection, plan: SeedPlan, stories: Stories) -> None:
    link_errors = _expanded([((t, c), w) for t, c, w in LINK_ERRORS])
    err_types = "ARRAY[" + ",".join(f"'{t}'" for t, _ in link_errors) + "]"
    err_codes = "ARRAY[" + ",".join(f"'{c}'" for _, c in link_errors) + "]"
    statuses = "ARRAY[" + ",".join(f"'{s}'" for s in LINK_EXIT_STATUSES) + "]"
    n_users = plan.users
    params = {"seed": str(plan.seed), "anchor": plan.anchor}
    # kind: 0 success, 1 exit without trying, 2 exit after an error
    conn.execute(
        text(
            f"""
            INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type,
                                           error_code, status, created_at)
            SELECT CASE WHEN kind = 0 THEN 'success' ELSE 'exit' END,
                   user_id,
                   {_uuid("'ls' || :seed || '-' || g")},
                   CASE WHEN kind = 2 THEN {_hex_id("'lreq' || :seed || '-' || g", 15)} END,
                   CASE WHEN kind = 2 THEN ({err_types})[e] END,
                   CASE WHEN kind = 2 THEN ({err_codes})[e] END,
                   CASE WHEN kind = 1 THEN ({statuses})[st]
                        WHEN kind = 2 AND random() < 0.6 THEN ({statuses})[st] END,
                   t
            FROM (
              SELECT g, 1 + floor(random() * {n_users})::int AS user_id,
                     CASE WHEN r < 0.62 THEN 0 WHEN r < 0.83 THEN 1 ELSE 2 END AS kind,
                     1 + floor(random() * {len(link_errors)})::int AS e,
                     1 + floor(random() * {len(LINK_EXIT_STATUSES)})::int AS st,
                     {_fold_time("t0")} AS t
              FROM (SELECT g, random() AS r, {_time_expr()} AS t0
                    FROM generate_series(1, :n) g) raw
            ) s ORDER BY g
            """
        ),
        {**params, "n": plan.link_events},
    )
    # Users of the broken items try update mode; some give up, some fail again.
    conn.execute(
        text(
            f"""
            INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type,
                                           error_code, status, created_at)
            SELECT CASE WHEN r < 0.25 THEN 'success' ELSE 'exit' END, user_id,
                   {_uuid("'wls' || :seed || '-' || id")},
                   CASE WHEN r >= 0.6 THEN {_hex_id("'wreq' || :seed || '-' || id", 15)} END,
                   CASE WHEN r >= 0.6 THEN 'ITEM_ERROR' END,
                   CASE WHEN r >= 0.6 THEN 'INVALID_CREDENTIALS' END,
                   CASE WHEN r >= 0.25 THEN 'requires_credentials' END,
                   break_at + random() * interval '30 hours'
            FROM (SELECT id, user_id, break_at, random() AS r FROM seed_items WHERE wave ORDER BY id) w
            """
        ),
        params,
    )
    # People trying to link the bank during the outage.
    conn.execute(
        text(
            f"""
            INSERT INTO link_events_table (type, user_id, link_session_id, request_id, error_type,
                                           error_code, status, created_at)
            SELECT 'exit', 1 + floor(random() * {n_users})::int,
                   {_uuid("'ols' || :seed || '-' || g")},
                   {_hex_id("'oreq' || :seed || '-' || g", 15)},
                   'INSTITUTION_ERROR',
                   CASE WHEN random() < 0.5 THEN 'INSTITUTION_DOWN' ELSE 'INSTITUTION_NOT_RESPONDING' END,
                   'requires_credentials',
                   CAST(:start AS timestamptz) + random() * (CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
            FROM generate_series(1, :n) g ORDER BY g
            """
        ),
        {**params, "start": stories.outage_start, "end": stories.outage_end, "n": max(20, plan.link_events // 100)},
    )


def _drop_event_indexes(conn: Connection) -> list[str]:
    """Bulk loading is far faster without secondary indexes; init_db rebuilds them."""
    names = conn.execute(
        text(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'dashboard\\_%' "
            "AND tablename IN ('plaid_api_events_table', 'link_events_table')"
        )
    ).scalars().all()
    for name in names:
        conn.execute(text(f'DROP INDEX IF EXISTS "{name}"'))
    return list(names)


def seed(
    engine: Engine,
    *,
    events: int = DEFAULT_EVENTS,
    seed_value: int = 42,
    anchor: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> Stories:
    """Fill an empty Pattern database with demo data; refuse if it holds any."""
    say = progress or (lambda _m: None)
    if events < 1000:
        raise ValueError("seed needs at least 1000 events to tell its stories")
    anchor = anchor or datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    plan = SeedPlan(events=events, seed=seed_value, anchor=anchor)
    stories = Stories.at(anchor)
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE dashboard_seed_runs IN EXCLUSIVE MODE"))
        _ensure_empty(conn)
        _drop_event_indexes(conn)
        say(f"users, items, accounts ({plan.users} users)")
        _setup(conn, plan, stories)
        n_items = conn.execute(text("SELECT count(*) FROM seed_items")).scalar_one()
        done = 0
        while done < plan.base_events:
            lo, hi = done + 1, min(plan.base_events, done + CHUNK)
            _base_chunk(conn, plan, stories, lo, hi, n_items)
            done = hi
            say(f"api events {done:,}/{plan.base_events:,}")
        _story_events(conn, plan, stories, plan.base_events + 1)
        say("link events")
        _link_events(conn, plan, stories)
        conn.execute(
            text(
                "INSERT INTO dashboard_seed_runs (seed, api_events, anchor, stories) "
                "VALUES (:seed, :events, :anchor, CAST(:stories AS jsonb))"
            ),
            {"seed": seed_value, "events": events, "anchor": anchor, "stories": json.dumps(stories.as_json())},
        )
    say("indexes and statistics")
    init_db(engine)
    refresh_rollups(engine, wait=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return stories


def seeded_stories(engine: Engine) -> Stories | None:
    """The stories of the demo data in this database, if it was seeded."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT stories FROM dashboard_seed_runs ORDER BY id DESC LIMIT 1")
        ).scalar_one_or_none()
    if not row:
        return None
    values = {k: (datetime.fromisoformat(v) if k.endswith(("_start", "_end")) or k == "anchor" else v)
              for k, v in row.items()}
    return Stories(**values)
