from dashboard.page_links import investigate_url, item_url, page_url
from dashboard.ui import md_escape


def test_page_url_drops_empty_and_encodes():
    assert page_url("trends") == "/trends"
    assert page_url("trends", window="7d", code=None, method="") == "/trends?window=7d"
    assert investigate_url("a b&c=d", window="24h") == "/investigate?q=a+b%26c%3Dd&window=24h"
    assert investigate_url(event=42) == "/investigate?event=42"
    assert item_url("abc") == "/health?item=abc"


def test_md_escape_neutralises_markdown():
    assert md_escape("[x](http://evil)") == r"\[x\]\(http\:\/\/evil\)".replace(r"\/", "/")
    assert md_escape("**bold**_") == r"\*\*bold\*\*\_"


def test_a_huge_bad_date_is_not_echoed_in_full():
    import pytest

    from dashboard.timewindow import WindowError, parse_instant

    with pytest.raises(WindowError) as err:
        parse_instant("A" * 10_000)
    assert len(str(err.value)) < 200 and "AAAA" in str(err.value)
