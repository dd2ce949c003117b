"""The secret scan through AppTest: every page and deep link, run with a
database password, a PLAID_SECRET and the seed's access tokens in play,
puts none of them in any element, query parameter or log record.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from secret_scan import deep_links, leaks, with_known_secrets
from streamlit.testing.v1 import AppTest

from dashboard.database import make_engine
from dashboard.seed import seed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def scan_db(new_database, seed_anchor: datetime):
    url = new_database()
    engine = make_engine(url)
    seed(engine, events=5_000, seed_value=11, anchor=seed_anchor)
    engine.dispose()
    return url, *with_known_secrets(url)


def _protos(node) -> list[tuple[str, bytes]]:
    """Every element's protobuf, as the browser would receive it."""
    out = []
    proto = getattr(node, "proto", None)
    if proto is not None:
        out.append((f"{type(node).__name__}", proto.SerializeToString()))
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            out.extend(_protos(child))
    return out


def test_scan_finds_secrets_in_an_element_tree(app_env, scan_db):
    """Proof the walk reaches element text: a page that printed a secret would be caught."""
    _, scan_url, known = scan_db
    app_env(scan_url)
    at = AppTest.from_string(f"import streamlit as st\nst.markdown('x {known.access_tokens[0]} y')").run()
    assert leaks(_protos(at._tree), known.all())


def test_no_secret_in_any_page_through_apptest(app_env, scan_db, caplog):
    raw_url, scan_url, known = scan_db
    app_env(scan_url, PLAID_SECRET=known.plaid_secret, DASHBOARD_LOCAL_ADMIN="1")
    caplog.set_level(logging.DEBUG)
    captured: list[tuple[str, bytes]] = []
    for link in deep_links(raw_url):
        page, _, query = link.partition("?")
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60)
        for k, v in parse_qsl(query):
            at.query_params[k] = v
        at.run()
        assert not at.exception, (link, at.exception)
        captured += [(f"{link} {where}", data) for where, data in _protos(at._tree)]
        captured.append((f"{link} query params", repr(dict(at.query_params)).encode()))
    assert len(captured) > 40
    assert leaks(captured, known.all()) == []
    log = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert leaks([("log records", log.encode())], known.all()) == []
