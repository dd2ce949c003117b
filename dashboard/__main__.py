"""Command line: `python -m dashboard init-db | seed | refresh-rollups | db-url | clear-db`."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from datetime import datetime

from dashboard.config import load_settings
from dashboard.database import describe_url, make_engine, resolve_database_url


def _engine():
    return make_engine(resolve_database_url(), application_name="plaid-ops-dashboard-cli")


def cmd_init_db(_args: argparse.Namespace) -> int:
    from dashboard.schema import init_db

    engine = _engine()
    n = init_db(engine)
    print(f"init-db: {n} statements applied to {describe_url(str(engine.url))}; existing objects left as they were")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from dashboard.seed import SeedRefused, seed

    engine = _engine()
    if args.if_empty:
        from dashboard.schema import init_db

        init_db(engine)
        with engine.connect() as conn:
            if conn.execute(text("SELECT EXISTS (SELECT 1 FROM plaid_api_events_table)")).scalar_one():
                print("seed: database already has events; leaving it as it is")
                return 0
    anchor = datetime.fromisoformat(args.anchor) if args.anchor else None
    started = time.perf_counter()
    try:
        stories = seed(
            engine,
            events=args.events,
            seed_value=args.seed,
            anchor=anchor,
            progress=lambda m: print(f"seed: {m} ({time.perf_counter() - started:.1f} s)", flush=True),
        )
    except SeedRefused as exc:
        print(f"seed refused: {exc}", file=sys.stderr)
        return 3
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar_one()
    print(
        f"seed: {args.events:,} API events in {time.perf_counter() - started:.1f} s; database size {size}\n"
        f"seed: outage at {stories.outage_institution} {stories.outage_start:%Y-%m-%d %H:%M}–"
        f"{stories.outage_end:%H:%M} UTC; ITEM_LOGIN_REQUIRED wave at {stories.wave_institution} "
        f"from {stories.wave_start:%Y-%m-%d %H:%M} UTC; rate-limit burst at {stories.burst_start:%Y-%m-%d %H:%M} UTC"
    )
    return 0


def cmd_refresh_rollups(args: argparse.Namespace) -> int:
    from dashboard.rollups import rebuild_rollups, refresh_rollups, rollup_status
    from dashboard.schema import init_db

    engine = _engine()
    init_db(engine)
    started = time.perf_counter()
    result = rebuild_rollups(engine) if args.rebuild else refresh_rollups(engine, wait=True)
    for source, n in result.rows.items():
        print(f"refresh-rollups: {source}: {n:,} new rows aggregated, watermark at id {result.watermarks[source]:,}")
    for row in rollup_status(engine):
        if "rows" in row:
            print(f"refresh-rollups: {row['source']} holds {row['rows']:,} rows")
    print(f"refresh-rollups: done in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_db_url(_args: argparse.Namespace) -> int:
    print(describe_url(resolve_database_url()))
    return 0


def cmd_clear_db(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.uses_embedded_db:
        print("clear-db only wipes the embedded database; DATABASE_URL is set, so nothing was done.",
              file=sys.stderr)
        return 2
    from dashboard.embedded_db import stop_embedded

    stop_embedded(settings.embedded_data_dir)
    shutil.rmtree(settings.embedded_data_dir, ignore_errors=True)
    print(f"clear-db: removed {settings.embedded_data_dir}; the init scripts run again on next start")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m dashboard")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create the dashboard's (and any missing Pattern) objects").set_defaults(
        func=cmd_init_db
    )
    s = sub.add_parser("seed", help="fill an empty database with demo data")
    s.add_argument("--events", type=int, default=200_000, help="Plaid API events to generate")
    s.add_argument("--seed", type=int, default=42, help="random seed (same seed, same data)")
    s.add_argument("--anchor", help="ISO time the data ends at (default: this hour)")
    s.add_argument("--if-empty", action="store_true", help="do nothing if events exist already")
    s.set_defaults(func=cmd_seed)
    r = sub.add_parser("refresh-rollups", help="aggregate new events into the hourly rollups")
    r.add_argument("--rebuild", action="store_true", help="empty the rollups and aggregate every row again")
    r.set_defaults(func=cmd_refresh_rollups)
    sub.add_parser("db-url", help="say which database is in use").set_defaults(func=cmd_db_url)
    sub.add_parser("clear-db", help="wipe the embedded database").set_defaults(func=cmd_clear_db)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
