"""The benchmark behind `make bench` (`python -m bench`).

For each size it seeds its own embedded PostgreSQL data directory
(bench/data/<events>/, reused when already seeded at that size), then, in a
fresh worker process per size, times every registered page query for the
24 h and 30 d windows (median and p95 after warm-up), records EXPLAIN
(ANALYZE, BUFFERS) for every statement they run and the worker's peak
memory. The naive approach runs in its own worker for the same figure. It
prints one table, writes bench/results/*.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from dashboard import REPO_ROOT
from dashboard.database import DatabaseError, make_engine
from dashboard.timewindow import TimeWindow

BENCH_DIR = REPO_ROOT / "bench"
DATA_ROOT = BENCH_DIR / "data"
RESULTS_DIR = BENCH_DIR / "results"
DOCS_FILE = REPO_ROOT / "docs" / "benchmarks.md"
DEFAULT_SIZES = (1_000_000, 10_000_000)
WINDOWS = {"24h": timedelta(hours=24), "30d": timedelta(days=30)}
# Windows end a little after the data's anchor, off the hour, like a page's
# "now" (floored to the minute): the partial hours at both ends are exercised.
END_OFFSET = timedelta(minutes=17)

SLOW_BUDGET_MS = 15_000.0  # timed runs of one query and window take at most about this long
TARGET_P95_MS = 150.0
TARGET_GROWTH = 2.0
TARGET_NAIVE_RATIO = 50.0
TARGET_MEMORY_GROWTH = 1.25  # peak RSS at the largest size / at the smallest


# --- Seeding ----------------------------------------------------------------------

def seeded_size(engine: Engine) -> int | None:
    """API events the database was seeded with (None: not a seeded database)."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('dashboard_seed_runs') IS NOT NULL")).scalar_one():
            return None
        return conn.execute(text("SELECT max(api_events) FROM dashboard_seed_runs")).scalar_one()


def lay_out_like_production(engine: Engine) -> None:
    """Store the event tables in time order, as Pattern's inserts leave them.

    The seed writes each chunk's events in random time order, so a time range
    would touch one heap page per row; Pattern appends events as they happen,
    so rows of one hour sit together. CLUSTER once after seeding gives the
    benchmark that production layout (and VACUUM the visibility map).
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CLUSTER plaid_api_events_table USING dashboard_api_events_created_at_idx"))
        conn.execute(text("CLUSTER link_events_table USING dashboard_link_events_created_at_idx"))
        conn.execute(text("VACUUM ANALYZE plaid_api_events_table"))
        conn.execute(text("VACUUM ANALYZE link_events_table"))


def ensure_seeded(engine: Engine, size: int, say: Callable[[str], None] = print) -> datetime:
    """Seed an empty database with `size` events, or bring a seeded one up to date; return its anchor."""
    from dashboard.rollups import refresh_rollups
    from dashboard.schema import init_db
    from dashboard.seed import seed, seeded_stories

    have = seeded_size(engine)
    if have is None:
        started = time.perf_counter()
        seed(engine, events=size, progress=lambda m: say(f"  seed {size:,}: {m}"))
        say(f"  seeded {size:,} events in {time.perf_counter() - started:.0f} s; clustering by created_at")
        lay_out_like_production(engine)
    elif have != size:
        raise RuntimeError(f"database holds a {have:,}-event seed, not {size:,}")
    else:
        init_db(engine)  # picks up indexes and rollup tables added since the seed
        refresh_rollups(engine, wait=True)
    stories = seeded_stories(engine)
    assert stories is not None
    return stories.anchor


def embedded_url_for(size: int, data_root: Path = DATA_ROOT, say: Callable[[str], None] = print) -> str:
    """The embedded server for one size; a data dir seeded at another size is wiped first."""
    from dashboard.embedded_db import start_embedded, stop_embedded

    data_dir = data_root / str(size)
    # Stopped explicitly by run() when the size is done (one server at a time).
    url = start_embedded(data_dir, stop_on_exit=False)
    engine = make_engine(url)
    try:
        have = seeded_size(engine)
    finally:
        engine.dispose()
    if have is not None and have != size:
        say(f"  {data_dir} holds a {have:,}-event seed; starting it over")
        stop_embedded(data_dir)
        shutil.rmtree(data_dir)
        url = start_embedded(data_dir, stop_on_exit=False)
    return url


# --- Worker (a separate process, so its peak memory is the queries' alone) ---------

def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 1)))  # nearest rank
    return ordered[min(rank, len(ordered)) - 1]


def _explain(engine: Engine, statements: Iterable[tuple[str, Any]]) -> list[str]:
    plans = []
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        for statement, params in statements:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).scalars().all()
            plans.append("\n".join(rows))
        conn.rollback()
    return plans


def run_queries(url: str, windows: dict[str, TimeWindow], runs: int, warmup: int,
                names: list[str] | None = None) -> dict[str, Any]:
    from bench.registry import page_queries

    engine = make_engine(url, application_name="plaid-ops-bench")
    captured: list[tuple[str, Any]] = []
    capturing = False

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(_conn, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        if capturing and "row_limit" in statement:
            captured.append((statement, parameters))

    baseline = _rss_mb()
    out: dict[str, Any] = {"queries": {}}
    for q in page_queries():
        if names and q.name not in names:
            continue
        per_window = {}
        for wkey, window in windows.items():
            try:
                t0 = time.perf_counter()
                q.fn(engine, window)
                first_ms = (time.perf_counter() - t0) * 1000
                for _ in range(warmup - 1):
                    q.fn(engine, window)
                # A query that takes seconds gets fewer runs, so the benchmark finishes.
                n_runs = min(runs, max(3, int(SLOW_BUDGET_MS / max(first_ms, 1.0))))
                times = []
                rows = None
                for _ in range(n_runs):
                    t0 = time.perf_counter()
                    result = q.fn(engine, window)
                    times.append((time.perf_counter() - t0) * 1000)
                    rows = len(result) if hasattr(result, "__len__") else None
            except DatabaseError as exc:  # e.g. the statement timeout: recorded, not fatal
                per_window[wkey] = {"error": type(exc).__name__, "message": exc.user_message,
                                    "median_ms": None, "p95_ms": None, "runs": 0, "statements": 0, "explain": []}
                continue
            captured.clear()
            capturing = True
            q.fn(engine, window)
            capturing = False
            per_window[wkey] = {
                "median_ms": statistics.median(times), "p95_ms": _percentile(times, 0.95),
                "runs": n_runs, "rows": rows, "statements": len(captured),
                "explain": _explain(engine, list(captured)),
            }
        out["queries"][q.name] = {"page": q.page, "windows": per_window}
    out["baseline_rss_mb"] = baseline
    out["peak_rss_mb"] = _rss_mb()
    engine.dispose()
    return out


def run_naive(url: str, windows: dict[str, TimeWindow], runs: int) -> dict[str, Any]:
    from bench.registry import NAIVE

    engine = make_engine(url, application_name="plaid-ops-bench-naive")
    out: dict[str, Any] = {"figures": {}}
    for name, fn in NAIVE.items():
        per_window = {}
        for wkey, window in windows.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn(engine, window)
                times.append((time.perf_counter() - t0) * 1000)
            per_window[wkey] = {"median_ms": statistics.median(times), "runs": runs}
        out["figures"][name] = per_window
    out["peak_rss_mb"] = _rss_mb()
    engine.dispose()
    return out


def _in_worker(kind: str, url: str, windows: dict[str, TimeWindow], **kw: Any) -> dict[str, Any]:
    spec = {"kind": kind, "url": url, "windows": {k: [w.start.isoformat(), w.end.isoformat()]
                                                 for k, w in windows.items()}, **kw}
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "bench.harness", "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    windows = {k: TimeWindow(datetime.fromisoformat(s), datetime.fromisoformat(e), k)
               for k, (s, e) in spec["windows"].items()}
    if spec["kind"] == "queries":
        out = run_queries(spec["url"], windows, spec["runs"], spec["warmup"], spec.get("names"))
    else:
        out = run_naive(spec["url"], windows, spec["runs"])
    print(json.dumps(out, default=str))


# --- One size, all sizes ---------------------------------------------------------

def windows_for(anchor: datetime) -> dict[str, TimeWindow]:
    end = anchor + END_OFFSET
    return {k: TimeWindow(end - d, end, k) for k, d in WINDOWS.items()}


def bench_size(url: str, size: int, *, runs: int, warmup: int, naive_runs: int,
               say: Callable[[str], None] = print) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        anchor = ensure_seeded(engine, size, say)
        with engine.connect() as conn:
            counts = conn.execute(text(
                "SELECT (SELECT count(*) FROM plaid_api_events_table), (SELECT count(*) FROM link_events_table), "
                "(SELECT count(*) FROM items_table), pg_database_size(current_database())")).one()
            pg_version = conn.execute(text("SHOW server_version")).scalar_one()
    finally:
        engine.dispose()
    windows = windows_for(anchor)
    load_before = os.getloadavg()[0]
    say(f"  timing page queries at {size:,} events ({runs} runs after {warmup} warm-up)")
    queries = _in_worker("queries", url, windows, runs=runs, warmup=warmup)
    say(f"  naive approach at {size:,} events ({naive_runs} run(s) per window)")
    naive = _in_worker("naive", url, windows, runs=naive_runs) if naive_runs else {"figures": {}}
    return {
        "size": size, "anchor": anchor.isoformat(),
        "windows": {k: [w.start.isoformat(), w.end.isoformat()] for k, w in windows.items()},
        "api_events": counts[0], "link_events": counts[1], "items": counts[2], "db_bytes": counts[3],
        "postgres": pg_version, "queries": queries["queries"],
        "baseline_rss_mb": queries["baseline_rss_mb"], "peak_rss_mb": queries["peak_rss_mb"],
        "naive": naive["figures"], "naive_peak_rss_mb": naive.get("peak_rss_mb"),
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute load, before/after
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"nproc": os.cpu_count(), "ram_gb": round(ram_gb, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform()}


@dataclass(frozen=True)
class Verdict:
    name: str
    met: bool
    detail: str


def _ms(w: dict[str, Any] | None, key: str) -> float | None:
    """A timing, or inf for a query that failed (timed out); None when not measured."""
    if not w:
        return None
    return float("inf") if w.get(key) is None else w[key]


def verdicts(report: dict[str, Any]) -> list[Verdict]:
    sizes = report["sizes"]
    small, large = sizes[0], sizes[-1]
    out = []
    worst = max(((_ms(w, "p95_ms"), name) for name, q in large["queries"].items()
                 for k, w in q["windows"].items() if k == "30d"), default=(0.0, "-"))
    out.append(Verdict(f"every page query < {TARGET_P95_MS:g} ms p95 at {large['size']:,} events, 30 d",
                       worst[0] < TARGET_P95_MS, f"slowest {worst[1]}: {_fmt(worst[0], unit=' ms')}"))
    if len(sizes) > 1:
        growth = max(((_ms(large["queries"][n]["windows"].get(k), "median_ms") / max(_ms(w, "median_ms"), 0.001),
                       n, k)
                      for n, q in small["queries"].items() if n in large["queries"]
                      for k, w in q["windows"].items() if w.get("median_ms") is not None), default=(0.0, "-", "-"))
        out.append(Verdict(f"{small['size']:,} → {large['size']:,} events costs ≤ {TARGET_GROWTH:g}× (median)",
                           growth[0] <= TARGET_GROWTH,
                           f"largest {_fmt(growth[0], 2, unit='×')} ({growth[1]}, {growth[2]})"))
        mem = large["peak_rss_mb"] / small["peak_rss_mb"]
        out.append(Verdict("query process memory flat across sizes", mem <= TARGET_MEMORY_GROWTH,
                           f"peak RSS {small['peak_rss_mb']:.0f} MB → {large['peak_rss_mb']:.0f} MB ({mem:.2f}×)"))
    ratios = [(r, n, k) for n, k, r in naive_ratios(large)]
    if ratios:
        low = min(ratios)
        out.append(Verdict(f"naive approach ≥ {TARGET_NAIVE_RATIO:g}× slower at {large['size']:,} events",
                           low[0] >= TARGET_NAIVE_RATIO, f"smallest ratio {low[0]:.0f}× ({low[1]}, {low[2]})"))
    return out


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "-"
    return "timeout" if value == float("inf") else f"{value:.{digits}f}{unit}"


def naive_ratios(size_report: dict[str, Any]) -> list[tuple[str, str, float]]:
    out = []
    for name, per_window in size_report["naive"].items():
        for k, w in per_window.items():
            ours = size_report["queries"][name]["windows"][k]["median_ms"]
            if ours is not None:
                out.append((name, k, w["median_ms"] / max(ours, 0.001)))
    return out


# --- Output ----------------------------------------------------------------------

def table(report: dict[str, Any]) -> str:
    """Markdown table: one row per query and window, sizes side by side."""
    sizes = report["sizes"]
    head = ["query", "window"]
    for s in sizes:
        head += [f"{s['size']:,} median ms", f"{s['size']:,} p95 ms"]
    if len(sizes) > 1:
        head.append("growth (median)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in sizes[-1]["queries"]:
        for k in WINDOWS:
            cells = [name, k]
            for s in sizes:
                w = s["queries"].get(name, {}).get("windows", {}).get(k)
                cells += [_fmt(_ms(w, "median_ms")), _fmt(_ms(w, "p95_ms"))]
            if len(sizes) > 1:
                a = sizes[0]["queries"].get(name, {}).get("windows", {}).get(k)
                b = sizes[-1]["queries"].get(name, {}).get("windows", {}).get(k)
                ok = a and b and a.get("median_ms") and b.get("median_ms")
                cells.append(f"{b['median_ms'] / max(a['median_ms'], 0.001):.2f}×" if ok else "-")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def naive_table(report: dict[str, Any]) -> str:
    lines = ["| figure | window | events | naive (pandas) ms | ours ms | ratio |", "|---|---|---|---|---|---|"]
    for s in report["sizes"]:  # noqa: F402
        for name, k, ratio in naive_ratios(s):
            lines.append(f"| {name} | {k} | {s['size']:,} | {s['naive'][name][k]['median_ms']:.0f} | "
                         f"{s['queries'][name]['windows'][k]['median_ms']:.1f} | {ratio:.0f}× |")
    return "\n".join(lines)


def memory_table(report: dict[str, Any]) -> str:
    lines = ["| events | query worker peak RSS MB | (after imports) | naive worker peak RSS MB | database size |",
             "|---|---|---|---|---|"]
    for s in report["sizes"]:
        naive = f"{s['naive_peak_rss_mb']:.0f}" if s.get("naive_peak_rss_mb") else "-"
        lines.append(f"| {s['size']:,} | {s['peak_rss_mb']:.0f} | {s['baseline_rss_mb']:.0f} | {naive} | "
                     f"{s['db_bytes'] / 1024**3:.2f} GB |")
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    largest = report["sizes"][-1]
    plans = []
    for name, q in largest["queries"].items():
        for i, plan in enumerate(q["windows"].get("30d", {}).get("explain", [])):
            plans.append(f"#### {name} (statement {i + 1})\n\n```\n{plan}\n```")
    verdict_lines = "\n".join(f"- {'met' if v.met else '**missed**'}: {v.name} — {v.detail}"
                              for v in report["verdicts"])
    return f"""# Benchmarks

Written by `make bench` (`python -m bench`) on {report['finished_at']}; do not edit by hand.
Each size is a demo seed (`python -m dashboard seed --events N`: API events
over 30 days, link events at 1/25, ~1 item per 340 events) in its own embedded
PostgreSQL, with the event tables then CLUSTERed by created_at once: the seed
writes events in random time order, Pattern appends them as they happen, and
the benchmark should see the production layout (bench/harness.py
`lay_out_like_production`). Every registered page query (bench/registry.py) runs for a 24 h
and a 30 d window ending {END_OFFSET.seconds // 60} minutes past the data's
anchor hour: {report['warmup']} warm-up runs, then {report['runs']} timed runs
(wall time of the dashboard function: SQL, transfer and DataFrame).

## Machine

- CPU: {m['cpu']} — {m['nproc']} cores (nproc)
- RAM: {m['ram_gb']} GB
- PostgreSQL {largest['postgres']} (embedded, default settings); Python {m['python']}
- {m['platform']}
- 1-minute load average before/after each size: {", ".join(f"{s['size']:,}: {s['load_avg'][0]}/{s['load_avg'][1]}"
                                                        for s in report['sizes'])}

## Targets

{verdict_lines}

## Page queries

{table(report)}

## The naive approach

Read the window's events into pandas with `read_sql`, aggregate there
(bench/registry.py `NAIVE`), against the page query that shows the same figure.

{naive_table(report)}

## Memory

Peak RSS (ru_maxrss) of the worker process that ran every page query for
both windows, and of the one that ran the naive approach.

{memory_table(report)}

## EXPLAIN (ANALYZE, BUFFERS) at {largest['size']:,} events, 30 d window

<details><summary>{len(plans)} plans</summary>

{chr(10).join(plans)}

</details>
"""


def run(sizes: list[int], *, runs: int, warmup: int, naive_runs: int, data_root: Path = DATA_ROOT,
        urls: dict[int, str] | None = None, results_dir: Path = RESULTS_DIR, docs_file: Path | None = DOCS_FILE,
        say: Callable[[str], None] = print) -> dict[str, Any]:
    """Benchmark every size; `urls` gives a database per size instead of the embedded servers."""
    from dashboard.embedded_db import stop_embedded

    report: dict[str, Any] = {"machine": machine(), "runs": runs, "warmup": warmup, "naive_runs": naive_runs,
                              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "sizes": []}
    for size in sizes:
        say(f"bench: {size:,} events")
        if urls:
            report["sizes"].append(bench_size(urls[size], size, runs=runs, warmup=warmup,
                                              naive_runs=naive_runs, say=say))
        else:
            url = embedded_url_for(size, data_root, say)
            try:
                report["sizes"].append(bench_size(url, size, runs=runs, warmup=warmup,
                                                  naive_runs=naive_runs, say=say))
            finally:
                stop_embedded(data_root / str(size))  # one server at a time on a small machine
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["verdicts"] = [v.__dict__ for v in verdicts(report)]
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = report["finished_at"].replace(":", "").replace("+0000", "Z")
    for path in (results_dir / f"bench-{stamp}.json", results_dir / "latest.json"):
        path.write_text(json.dumps(report, indent=1, default=str))
    report["verdicts"] = verdicts(report)
    if docs_file:
        docs_file.write_text(markdown(report))
    say("\n" + table(report) + "\n\n" + naive_table(report) + "\n\n" + memory_table(report) + "\n")
    for v in report["verdicts"]:
        say(f"{'MET   ' if v.met else 'MISSED'} {v.name}: {v.detail}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or " ".join(map(str, DEFAULT_SIZES)),
                        help="API event counts to seed and time, e.g. '1000000 10000000'")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query and window")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--naive-runs", type=int, default=2, help="runs of the naive approach (0: skip)")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args.worker)
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.replace(",", " ").split()]
    report = run(sizes, runs=args.runs, warmup=args.warmup, naive_runs=args.naive_runs,
                 docs_file=None if args.no_docs else DOCS_FILE)
    return 0 if all(v.met for v in report["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
