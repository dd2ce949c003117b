"""Settings read from the environment (and, for Streamlit, its secrets).

One place decides which database and which Plaid environment the dashboard
talks to, so the CLI, the pages and the tests agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dashboard import REPO_ROOT

PLAID_ENVIRONMENTS = ("sandbox", "production")
DEFAULT_STATEMENT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    embedded_data_dir: Path
    statement_timeout_ms: int
    plaid_client_id: str | None
    plaid_secret: str | None = field(repr=False)
    plaid_env: str
    admin_emails: frozenset[str]
    local_admin: bool

    @property
    def uses_embedded_db(self) -> bool:
        return not self.database_url

    @property
    def plaid_simulated(self) -> bool:
        """Without real credentials the dashboard talks to the offline stand-in."""
        return not (self.plaid_client_id and self.plaid_secret)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


SETTING_KEYS = (
    "DATABASE_URL",
    "DASHBOARD_PGDATA",
    "DASHBOARD_STATEMENT_TIMEOUT_MS",
    "PLAID_CLIENT_ID",
    "PLAID_SECRET",
    "PLAID_ENV",
    "DASHBOARD_ADMIN_EMAILS",
    "DASHBOARD_LOCAL_ADMIN",
)


def merged_source(secrets: Mapping[str, object] | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings' keys from Streamlit secrets with the environment on top.

    Keys set to an empty value in the environment do not hide a secret: an
    exported-but-blank PLAID_SECRET would otherwise silently switch to the
    stand-in while secrets.toml holds the real key.
    """
    env = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    for key in SETTING_KEYS:
        value = (secrets or {}).get(key)
        # Only top-level scalars: a [section] of secrets.toml is not a setting.
        if isinstance(value, (str, int, float, bool)) and str(value).strip():
            merged[key] = str(value)
        if (env.get(key) or "").strip():
            merged[key] = env[key]
    return merged


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from a mapping (default: the environment; pages pass `merged_source(st.secrets)`)."""
    env = os.environ if environ is None else environ
    plaid_env = (env.get("PLAID_ENV") or "sandbox").strip().lower()
    if plaid_env not in PLAID_ENVIRONMENTS:
        raise ValueError(
            f"PLAID_ENV must be one of {', '.join(PLAID_ENVIRONMENTS)}, not {plaid_env!r}"
        )
    timeout = env.get("DASHBOARD_STATEMENT_TIMEOUT_MS") or str(DEFAULT_STATEMENT_TIMEOUT_MS)
    return Settings(
        database_url=(env.get("DATABASE_URL") or "").strip() or None,
        embedded_data_dir=Path(env.get("DASHBOARD_PGDATA") or REPO_ROOT / ".pgdata"),
        statement_timeout_ms=int(timeout),
        plaid_client_id=(env.get("PLAID_CLIENT_ID") or "").strip() or None,
        plaid_secret=(env.get("PLAID_SECRET") or "").strip() or None,
        plaid_env=plaid_env,
        admin_emails=frozenset(
            e.strip().lower() for e in (env.get("DASHBOARD_ADMIN_EMAILS") or "").split(",") if e.strip()
        ),
        local_admin=_truthy(env.get("DASHBOARD_LOCAL_ADMIN")),
    )
