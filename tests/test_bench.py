"""The benchmark harness on a tiny seed, so `make bench` cannot rot."""

from __future__ import annotations

import json

from bench import harness
from bench.registry import NAIVE, page_queries
from dashboard.database import make_engine


def test_every_registered_query_runs_and_naive_figures_map_to_one(seeded, seed_anchor):
    names = {q.name for q in page_queries()}
    assert len(names) == len(page_queries())  # names are unique
    assert set(NAIVE) <= names
    windows = harness.windows_for(seed_anchor)
    for q in page_queries():
        for window in windows.values():
            q.fn(seeded, window)  # raises on a broken registration


def test_the_bench_seeds_times_explains_and_reports(new_database, tmp_path):
    url = new_database()
    docs = tmp_path / "benchmarks.md"
    lines: list[str] = []
    report = harness.run([2000], runs=2, warmup=1, naive_runs=1, urls={2000: url},
                         results_dir=tmp_path / "results", docs_file=docs, say=lines.append)
    size = report["sizes"][0]
    assert size["api_events"] == 2000
    assert set(size["queries"]) == {q.name for q in page_queries()}
    for q in size["queries"].values():
        for w in ("24h", "30d"):
            timing = q["windows"][w]
            assert timing["runs"] == 2 and 0 < timing["median_ms"] <= timing["p95_ms"]
            assert timing["statements"] >= 1
            assert len(timing["explain"]) == timing["statements"]
            assert all("Execution Time" in plan for plan in timing["explain"])
    assert size["peak_rss_mb"] >= size["baseline_rss_mb"] > 0
    assert set(size["naive"]) == set(NAIVE)
    saved = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert saved["sizes"][0]["size"] == 2000 and saved["machine"]["nproc"] >= 1
    text = docs.read_text()
    assert "## Machine" in text and "PostgreSQL" in text and next(iter(size["queries"])) in text
    assert any(line.startswith(("MET", "MISSED")) for line in lines)
    # A second run reuses the seeded database instead of seeding again.
    again = harness.run([2000], runs=1, warmup=0, naive_runs=0, urls={2000: url},
                        results_dir=tmp_path / "results", docs_file=None, say=lines.append)
    assert again["sizes"][0]["anchor"] == size["anchor"]
    engine = make_engine(url)
    assert harness.seeded_size(engine) == 2000
    engine.dispose()


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]
    assert harness._percentile(values, 0.95) == 19.0
    assert harness._percentile([5.0], 0.95) == 5.0


def test_a_query_that_times_out_is_recorded_and_counts_as_missed(db_url, monkeypatch, seed_anchor):
    from bench import registry
    from dashboard.database import read_rows

    def slow(engine, window):
        return read_rows(engine, "SELECT pg_sleep(1) AS s LIMIT :row_limit", {"row_limit": 1}, timeout_ms=50)

    def fast(engine, window):
        return read_rows(engine, "SELECT 1 AS one LIMIT :row_limit", {"row_limit": 1})

    monkeypatch.setattr(registry, "page_queries", lambda: (registry.BenchQuery("slow", "t", slow),
                                                           registry.BenchQuery("fast", "t", fast)))
    out = harness.run_queries(db_url, harness.windows_for(seed_anchor), runs=2, warmup=1)
    assert out["queries"]["slow"]["windows"]["30d"]["error"] == "QueryTimeout"
    assert out["queries"]["fast"]["windows"]["30d"]["runs"] == 2
    size = {"size": 1, "queries": out["queries"], "peak_rss_mb": 1.0, "naive": {}}
    verdict = harness.verdicts({"sizes": [size]})[0]
    assert not verdict.met and "slow: timeout" in verdict.detail
