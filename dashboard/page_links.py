"""URLs between pages, so a click on a code, item or request carries its filters.

Pages live at /trends, /health, /investigate and /admin (st.navigation takes
the path from the file name). Links are plain URLs rather than
st.switch_page: a page whose widgets are bound to query parameters raises
when switched to with query parameters, and a URL can be pasted into a ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

TRENDS = "trends"
HEALTH = "health"
INVESTIGATE = "investigate"
ADMIN = "admin"


def page_url(page: str, **params: object) -> str:
    """`/page?k=v…` with empty parameters left out; values are URL-encoded."""
    kept = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    return f"/{page}" + (f"?{urlencode(kept)}" if kept else "")


def investigate_url(q: str | None = None, *, event: int | None = None, **filters: object) -> str:
    """The investigate view for one identifier (`?q=`) or one event (`?event=`)."""
    return page_url(INVESTIGATE, q=q, event=event, **filters)


def item_url(plaid_item_id: str, **filters: object) -> str:
    """The item detail on the health page (`?item=<plaid_item_id>`)."""
    return page_url(HEALTH, item=plaid_item_id, **filters)


def admin_url(items: Sequence[str] = (), **filters: object) -> str:
    """The admin page with items preselected: `?items=a,b,c` (read by batches.parse_item_list) and/or filters."""
    return page_url(ADMIN, items=",".join(items), **filters)
