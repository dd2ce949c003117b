"""Redaction of credentials from anything that may reach a browser or a log.

Pattern stores each Plaid call's arguments as JSON text that includes the
access token. Every view, export and log line passes such text through here.
Two nets: credential-like keys at any depth of parsed JSON, and Plaid token
shapes anywhere in raw text (for invalid JSON, odd keys, or tokens embedded
in strings).
"""

from __future__ import annotations

import json
import re
from typing import Any

REDACTED = "[REDACTED]"
MAX_VALUE_CHARS = 2000
MAX_TEXT_CHARS = 100_000
MAX_ITEMS = 200  # list elements / object keys shown per level
MAX_PARSE_CHARS = 2_000_000  # bigger `arguments` text is not parsed as JSON

_SENSITIVE_KEY = re.compile(
    r"(access[_-]?token|public[_-]?token|processor[_-]?token|link[_-]?token|"
    r"secret|password|passwd|api[_-]?key|authorization|client[_-]?secret|"
    r"plaid[_-]?secret|refresh[_-]?token|id[_-]?token|session[_-]?token|^token$|_token$|credentials?$)",
    re.IGNORECASE,
)
# access-sandbox-…, public-production-…, link-…, processor-… tokens, and the
# bare hex secrets Plaid issues (30 hex chars).
_TOKEN_SHAPE = re.compile(
    r"\b(?:access|public|link|processor|item-add|payment)-(?:sandbox|development|production)-"
    r"[0-9A-Za-z-]{6,}",
    re.IGNORECASE,
)
_SECRET_SHAPE = re.compile(r"\b[0-9a-f]{30}\b")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_TOKEN_ENV = re.compile(r"\b(?:access|public|link|processor)-(sandbox|development|production)-", re.IGNORECASE)
# Characters a token or secret is made of: a cut through one must not leave its head behind.
_TOKEN_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")
# "key": "value" pairs in text that is not valid JSON, including JSON that was
# escaped into a string (\"access_token\": \"…\"). The key's prefix is bounded:
# an unbounded `[A-Za-z_-]*` backtracks quadratically on a long run of letters
# (100k characters of text hung the page).
_KV_IN_TEXT = re.compile(
    r"""(?P<key>\\?["']?[A-Za-z_-]{0,40}(?:token|secret|password|api[_-]?key)\\?["']?\s*[:=]\s*)"""
    r"""(?P<val>\\?"(?:[^"\\]|\\[^"])*\\?"|'[^']*'|[^\s,}\]&]+)""",
    re.IGNORECASE,
)


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(str(key)))


def redact_text(value: str) -> str:
    """Remove token-shaped strings and key=value credentials from free text."""
    if not value:
        return value
    cut = len(value) > MAX_TEXT_CHARS
    if cut:
        # Drop the partial word at the cut too: a secret cut short no longer
        # has the shape the patterns below recognise.
        value = _drop_partial_word(value[:MAX_TEXT_CHARS])
    value = _KV_IN_TEXT.sub(lambda m: m.group("key") + _quote_like(m.group("val")), value)
    value = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    value = _TOKEN_SHAPE.sub(REDACTED, value)
    value = _SECRET_SHAPE.sub(REDACTED, value)
    return value + " … [truncated]" if cut else value


def _drop_partial_word(value: str) -> str:
    # A loop, not a regex: `[chars]+$` rescans every run and is quadratic on huge text.
    end = len(value)
    while end and value[end - 1] in _TOKEN_CHARS:
        end -= 1
    return value[:end]


def token_environment(value: str | None) -> str | None:
    """The Plaid environment a token in raw text belongs to (sandbox, production…), if any.

    Read before redaction so a ticket can say which environment a call hit.
    """
    if not value:
        return None
    m = _TOKEN_ENV.search(value[:MAX_TEXT_CHARS])
    return m.group(1).lower() if m else None


def _quote_like(original: str) -> str:
    for quote in ('\\"', '"', "'"):
        if original.startswith(quote):
            return quote + REDACTED + quote
    return REDACTED


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """Redact a parsed JSON value at any depth."""
    if _depth > 50:
        return REDACTED  # absurdly deep: refuse rather than recurse forever
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for n, (k, v) in enumerate(value.items()):
            if n >= MAX_ITEMS:
                out["…"] = f"[{len(value) - MAX_ITEMS} more keys]"
                break
            key = redact_text(k) if isinstance(k, str) else k
            out[key] = REDACTED if is_sensitive_key(k) and value_present(v) else redact_value(v, _depth=_depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [redact_value(v, _depth=_depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… [{len(value) - MAX_ITEMS} more items]")
        return items
    if isinstance(value, bytes):
        return redact_value(value.decode("utf-8", "replace"), _depth=_depth)
    if isinstance(value, str):
        nested = _embedded_json(value)
        if nested is not None:
            # JSON inside a string (a logged request body): redact by key too.
            return json.dumps(redact_value(nested, _depth=_depth + 1), ensure_ascii=False)
        cleaned = redact_text(value)
        if len(cleaned) > MAX_VALUE_CHARS:
            return cleaned[:MAX_VALUE_CHARS] + f"… [{len(cleaned) - MAX_VALUE_CHARS} more characters]"
        return cleaned
    return value


def _embedded_json(value: str) -> Any:
    stripped = value.strip()
    if len(stripped) < 2 or len(stripped) > MAX_TEXT_CHARS or stripped[0] not in "[{":
        return None
    try:
        parsed = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


def value_present(v: Any) -> bool:
    return v not in (None, "", [], {})


def redact_arguments(arguments: Any) -> str:
    """Pattern's `arguments` text, pretty-printed with every credential replaced.

    Invalid JSON falls back to the text patterns; so does text too big to parse.
    """
    if arguments is None:
        return ""
    if isinstance(arguments, bytes):
        arguments = arguments.decode("utf-8", "replace")
    if not isinstance(arguments, str):  # already parsed (a jsonb column, a dict)
        return json.dumps(redact_value(arguments), indent=2, ensure_ascii=False, default=str)
    if len(arguments) > MAX_PARSE_CHARS:
        return redact_text(arguments)
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):
        return redact_text(arguments)
    return json.dumps(redact_value(parsed), indent=2, ensure_ascii=False)


def redact_for_log(obj: Any) -> str:
    """A one-line, redacted rendering of anything, for log lines and exceptions."""
    if isinstance(obj, (dict, list)):
        return json.dumps(redact_value(obj), default=str)
    value = redact_value(str(obj))  # also parses JSON held in the text
    return value if isinstance(value, str) else json.dumps(value, default=str)
