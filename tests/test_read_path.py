"""The shared read path: bounded, parameterised, and input it cannot pass is a message."""

from __future__ import annotations

import pytest

from dashboard.database import UnsearchableInput, read_frame, read_rows

SQL = "SELECT plaid_item_id FROM items_table WHERE plaid_item_id = :q LIMIT :row_limit"


@pytest.mark.parametrize("reader", [read_frame, read_rows])
@pytest.mark.parametrize("value", ["ab\x00cd", ["ok", "x\x00"]])
def test_nul_in_any_parameter_is_a_clear_message(db, reader, value):
    with pytest.raises(UnsearchableInput, match="NUL character"):
        reader(db, SQL, {"q": value, "row_limit": 5})


def test_ordinary_text_still_reaches_the_database(db):
    assert read_rows(db, SQL, {"q": "it's; DROP TABLE items_table --", "row_limit": 5}) == []
    assert read_rows(db, "SELECT count(*) AS n FROM items_table LIMIT :row_limit", {"row_limit": 1}) == [{"n": 0}]


def test_unbounded_query_is_refused(db):
    with pytest.raises(ValueError, match="LIMIT :row_limit"):
        read_rows(db, "SELECT 1", {})
