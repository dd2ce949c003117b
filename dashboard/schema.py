"""Bring a database up to date from db/init/ (`python -m dashboard init-db`).

The same files initialise an empty database in docker-compose. Every
statement in them creates an object only when it is missing, so running this
on a live Pattern database adds the dashboard's objects and changes nothing
of Pattern's, and running it twice is a no-op.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlparse
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard import REPO_ROOT

INIT_DIR = REPO_ROOT / "db" / "init"
_log = logging.getLogger(__name__)


def init_files(init_dir: Path = INIT_DIR) -> list[Path]:
    """The init scripts in name order, as the postgres image runs them."""
    return sorted(init_dir.glob("*.sql"))


def statements(path: Path) -> list[str]:
    """Split a script into statements (dollar-quoted bodies stay whole)."""
    return [s.strip() for s in sqlparse.split(path.read_text()) if s.strip().strip(";").strip()]


def drop_invalid_dashboard_indexes(engine: Engine) -> list[str]:
    """An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index behind;
    IF NOT EXISTS would then skip it forever. Only our own indexes are dropped."""
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE NOT i.indisvalid AND c.relname LIKE 'dashboard\\_%'"
            )
        ).scalars().all()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
    return list(names)


def init_db(engine: Engine, init_dir: Path = INIT_DIR) -> int:
    """Apply every init script; return how many statements ran."""
    dropped = drop_invalid_dashboard_indexes(engine)
    if dropped:
        _log.warning("dropped invalid indexes to rebuild them: %s", ", ".join(dropped))
    count = 0
    # Autocommit, one statement at a time: CREATE INDEX CONCURRENTLY refuses
    # to run inside a transaction block.
    # The raw cursor gets no parameters, so '%' in the scripts (format('%I'))
    # is not taken for a placeholder.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        cursor = conn.connection.cursor()
        try:
            for path in init_files(init_dir):
                for stmt in statements(path):
                    cursor.execute(stmt)
                    count += 1
        finally:
            cursor.close()
    return count
