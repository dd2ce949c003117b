"""triage.sql_triage_class gives in SQL the class triage.classify gives in Python."""

from __future__ import annotations

from sqlalchemy import text

from dashboard.triage import KNOWLEDGE_BASE, classify, sql_triage_class


def test_sql_class_matches_classify_for_every_code_and_fallback(db):
    cases = [(code, None) for code in KNOWLEDGE_BASE]
    cases += [("NOT_A_REAL_CODE", "INVALID_REQUEST"), ("NOT_A_REAL_CODE", "RATE_LIMIT_EXCEEDED"),
              ("NOT_A_REAL_CODE", "ITEM_ERROR"), ("ITEM_LOGIN_REQUIRED", "INVALID_REQUEST"),
              (None, "INVALID_INPUT"), (None, None)]
    joins, expr, params = sql_triage_class("c.code", "c.etype")
    values = ", ".join(f"(:code_{i}, :etype_{i}, {i})" for i in range(len(cases)))
    for i, (code, etype) in enumerate(cases):
        params[f"code_{i}"], params[f"etype_{i}"] = code, etype
    sql = (f"SELECT c.i, {expr} AS cls FROM (VALUES {values}) AS c(code, etype, i) {joins} ORDER BY c.i")
    with db.connect() as conn:
        got = [r.cls for r in conn.execute(text(sql), params)]
    want = [None if code is None and etype is None else classify(code, etype).label for code, etype in cases]
    assert got == want
    assert want[-6:] == ["integration bug", "transient", "unclassified", "user action", "integration bug", None]
