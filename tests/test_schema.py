"""The schema matches Pattern's column list, and init-db is additive and idempotent."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dashboard.database import make_engine
from dashboard.schema import init_db, statements

# table -> [(column, type, nullable)] from shared/reference/pattern-database.md
PATTERN_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    "users_table": [
        ("id", "integer", False), ("username", "text", False),
        ("created_at", "timestamp with time zone", True), ("updated_at", "timestamp with time zone", True),
    ],
    "items_table": [
        ("id", "integer", False), ("user_id", "integer", True), ("plaid_access_token", "text", False),
        ("plaid_item_id", "text", False), ("plaid_institution_id", "text", False), ("status", "text", False),
        ("created_at", "timestamp with time zone", True), ("updated_at", "timestamp with time zone", True),
        ("transactions_cursor", "text", True),
    ],
    "assets_table": [
        ("id", "integer", False), ("user_id", "integer", True), ("value", "numeric(28,2)", True),
        ("description", "text", True), ("created_at", "timestamp with time zone", True),
        ("updated_at", "timestamp with time zone", True),
    ],
    "accounts_table": [
        ("id", "integer", False), ("item_id", "integer", True), ("plaid_account_id", "text", False),
        ("name", "text", False), ("mask", "text", False), ("official_name", "text", True),
        ("current_balance", "numeric(28,10)", True), ("available_balance", "numeric(28,10)", True),
        ("iso_currency_code", "text", True), ("unofficial_currency_code", "text", True),
        ("type", "text", False), ("subtype", "text", False),
        ("created_at", "timestamp with time zone", True), ("updated_at", "timestamp with time zone", True),
    ],
    "transactions_table": [
        ("id", "integer", False), ("account_id", "integer", True), ("plaid_transaction_id", "text", False),
        ("plaid_category_id", "text", True), ("category", "text", True), ("type", "text", False),
        ("name", "text", False), ("amount", "numeric(28,10)", False), ("iso_currency_code", "text", True),
        ("unofficial_currency_code", "text", True), ("date", "date", False), ("pending", "boolean", False),
        ("account_owner", "text", True), ("created_at", "timestamp with time zone", True),
        ("updated_at", "timestamp with time zone", True),
    ],
    "link_events_table": [
        ("id", "integer", False), ("type", "text", False), ("user_id", "integer", True),
        ("link_session_id", "text", True), ("request_id", "text", True), ("error_type", "text", True),
        ("error_code", "text", True), ("status", "text", True), ("created_at", "timestamp with time zone", True),
    ],
    "plaid_api_events_table": [
        ("id", "integer", False), ("item_id", "integer", True), ("user_id", "integer", True),
        ("plaid_method", "text", False), ("arguments", "text", True), ("request_id", "text", True),
        ("error_type", "text", True), ("error_code", "text", True),
        ("created_at", "timestamp with time zone", True),
    ],
}
UNIQUES = {
    ("users_table", "username"), ("items_table", "plaid_access_token"), ("items_table", "plaid_item_id"),
    ("accounts_table", "plaid_account_id"), ("transactions_table", "plaid_transaction_id"),
    ("link_events_table", "request_id"), ("plaid_api_events_table", "request_id"),
}
FOREIGN_KEYS = {
    ("items_table", "user_id", "users_table", "CASCADE"),
    ("assets_table", "user_id", "users_table", "CASCADE"),
    ("accounts_table", "item_id", "items_table", "CASCADE"),
    ("transactions_table", "account_id", "accounts_table", "CASCADE"),
}
VIEW_COLUMNS = {
    "users": {"id", "username", "created_at", "updated_at"},
    "items": {c for c, _, _ in PATTERN_COLUMNS["items_table"]},
    "assets": {c for c, _, _ in PATTERN_COLUMNS["assets_table"]},
    "accounts": {c for c, _, _ in PATTERN_COLUMNS["accounts_table"]} | {"plaid_item_id", "user_id"},
    "transactions": {c for c, _, _ in PATTERN_COLUMNS["transactions_table"]}
    | {"plaid_account_id", "item_id", "plaid_item_id", "user_id"},
}


def _columns(conn, table: str) -> list[tuple[str, str, bool]]:
    rows = conn.execute(
        text(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = CAST(:t AS regclass) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum"
        ),
        {"t": table},
    )
    return [tuple(r) for r in rows]


def test_pattern_tables_match_reference(db):
    with db.connect() as conn:
        for table, expected in PATTERN_COLUMNS.items():
            assert _columns(conn, table) == expected, table


def test_primary_keys_uniques_and_foreign_keys(db):
    with db.connect() as conn:
        uniques = {
            (r[0], r[1])
            for r in conn.execute(
                text(
                    "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
                    "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                    "WHERE tc.constraint_type = 'UNIQUE'"
                )
            )
        }
        fks = {
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT conrelid::regclass::text, a.attname, confrelid::regclass::text, "
                    "CASE confdeltype WHEN 'c' THEN 'CASCADE' ELSE confdeltype::text END "
                    "FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                    "AND a.attnum = c.conkey[1] WHERE contype = 'f'"
                )
            )
        }
        pks = dict(
            conn.execute(
                text(
                    "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
                    "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
                    "WHERE tc.constraint_type = 'PRIMARY KEY'"
                )
            ).all()
        )
    assert UNIQUES <= uniques
    # Event tables: no unique but request_id, no foreign keys.
    assert {u for u in uniques if u[0].endswith("events_table")} == {
        ("link_events_table", "request_id"), ("plaid_api_events_table", "request_id")}
    assert fks == FOREIGN_KEYS
    assert all(pks[t] == "id" for t in PATTERN_COLUMNS)


def test_views_and_updated_at_trigger(db):
    with db.begin() as conn:
        for view, cols in VIEW_COLUMNS.items():
            got = {r[0] for r in conn.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name = :v"), {"v": view})}
            assert got == cols, view
        uid = conn.execute(text(
            "INSERT INTO users_table (username, updated_at) VALUES ('u', now() - interval '1 day') RETURNING id"
        )).scalar_one()
    with db.begin() as conn:
        conn.execute(text("UPDATE users_table SET username = 'v' WHERE id = :i"), {"i": uid})
    with db.connect() as conn:
        age = conn.execute(text("SELECT now() - updated_at FROM users_table WHERE id = :i"), {"i": uid}).scalar_one()
        triggers = set(conn.execute(text(
            "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%_updated_at_timestamp'"
        )).scalars())
    assert age.total_seconds() < 60
    assert triggers == {"users_table", "items_table", "assets_table", "accounts_table", "transactions_table"}


def _snapshot(conn) -> dict:
    """Everything init-db could conceivably change about Pattern's objects."""
    defs = conn.execute(text(
        "SELECT c.relname, c.relkind, pg_get_viewdef(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
        "AND c.relname NOT LIKE 'dashboard%' ORDER BY 1"
    )).all()
    counts = {t: conn.execute(text(f"SELECT count(*), coalesce(max(id), 0) FROM {t}")).one()
              for t in PATTERN_COLUMNS}
    triggers = conn.execute(text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger ORDER BY 1")).all()
    return {"defs": defs, "counts": counts, "triggers": triggers}


def test_init_db_on_existing_pattern_database_is_additive_and_idempotent(pg_url, new_database):
    from tests.conftest import create_database

    url = create_database(pg_url, "pattern_only")
    engine = make_engine(url)
    pattern_sql = Path(__file__).resolve().parent.parent / "db" / "init" / "001_pattern_schema.sql"
    with engine.begin() as conn:
        for stmt in statements(pattern_sql):
            conn.connection.cursor().execute(stmt)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users_table (username) VALUES ('alice')"))
        conn.execute(text(
            "INSERT INTO items_table (user_id, plaid_access_token, plaid_item_id, plaid_institution_id, status) "
            "VALUES (1, 'access-sandbox-x', 'item-x', 'ins_1', 'good')"))
        conn.execute(text(
            "INSERT INTO plaid_api_events_table (item_id, user_id, plaid_method, arguments) "
            "VALUES (1, 1, 'itemGet', '[{}]')"))
    with engine.connect() as conn:
        before = _snapshot(conn)
    init_db(engine)
    with engine.connect() as conn:
        once = _snapshot(conn)
        ours = set(conn.execute(text(
            "SELECT relname FROM pg_class WHERE relname LIKE 'dashboard%'")).scalars())
    init_db(engine)
    with engine.connect() as conn:
        twice = _snapshot(conn)
        ours_twice = set(conn.execute(text(
            "SELECT relname FROM pg_class WHERE relname LIKE 'dashboard%'")).scalars())
    engine.dispose()
    assert before == once == twice
    assert {"dashboard_audit_log", "dashboard_institutions", "dashboard_api_events_created_at_idx"} <= ours
    assert ours == ours_twice


def test_init_db_rebuilds_an_interrupted_concurrent_index(db):
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = "
                          "'dashboard_api_events_created_at_idx'::regclass"))
    init_db(db)
    with db.connect() as conn:
        valid = conn.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                  "'dashboard_api_events_created_at_idx'::regclass")).scalar_one()
    assert valid


def test_init_scripts_never_drop_or_alter_pattern_objects():
    import re

    from dashboard.schema import init_files

    forbidden = re.compile(r"\b(DROP\s+TABLE|ALTER\s+TABLE|TRUNCATE|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b", re.I)
    for path in init_files():
        for stmt in statements(path):
            assert not forbidden.search(stmt), f"{path.name}: {stmt[:80]}"
