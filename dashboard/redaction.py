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
# "key": "value" pairs in text that is not valid JSON.
_KV_IN_TEXT = re.compile(
    r"""(?P<key>["']?[A-Za-z_-]*(?:token|secret|password|api[_-]?key)["']?\s*[:=]\s*)(?P<val>"[^"]*"|'[^']*'|[^\s,}\]]+)""",
    re.IGNORECASE,
)


def is_sensitive_key(key: str) -> bool:
    return bool(_SENSITIVE_KEY.search(str(key)))


def redact_text(value: str) -> str:
    """Remove token-shaped strings and key=value credentials from free text."""
    if not value:
        return value
    value = value[:MAX_TEXT_CHARS]
    value = _KV_IN_TEXT.sub(lambda m: m.group("key") + _quote_like(m.group("val")), value)
    value = _TOKEN_SHAPE.sub(REDACTED, value)
    return _SECRET_SHAPE.sub(REDACTED, value)


def _quote_like(original: str) -> str:
    if original[:1] in "\"'":
        return original[0] + REDACTED + original[0]
    return REDACTED


def redact_value(value: Any, *, _depth: int = 0) -> Any:
    """Redact a parsed JSON value at any depth."""
    if _depth > 50:
        return REDACTED  # absurdly deep: refuse rather than recurse forever
    if isinstance(value, dict):
        return {
            k: (REDACTED if is_sensitive_key(k) and value_present(v) else redact_value(v, _depth=_depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v, _depth=_depth + 1) for v in value]
    if isinstance(value, str):
        cleaned = redact_text(value)
        if len(cleaned) > MAX_VALUE_CHARS:
            return cleaned[:MAX_VALUE_CHARS] + f"… [{len(cleaned) - MAX_VALUE_CHARS} more characters]"
        return cleaned
    return value


def value_present(v: Any) -> bool:
    return v not in (None, "", [], {})


def redact_arguments(arguments: str | None) -> str:
    """Pattern's `arguments` text, pretty-printed with every credential replaced."""
    if arguments is None:
        return ""
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError):
        return redact_text(arguments)
    return json.dumps(redact_value(parsed), indent=2, ensure_ascii=False)


def redact_for_log(obj: Any) -> str:
    """A one-line, redacted rendering of anything, for log lines and exceptions."""
    if isinstance(obj, (dict, list)):
        return json.dumps(redact_value(obj), default=str)
    return redact_text(str(obj))
