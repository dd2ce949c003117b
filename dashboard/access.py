"""Who may use the admin page. Pure logic; the Streamlit side is in ui.py.

With OIDC configured ([auth] in .streamlit/secrets.toml), admins are the
logged-in users whose email is on DASHBOARD_ADMIN_EMAILS. Without OIDC (a
local run) admin actions stay off unless the operator sets
DASHBOARD_LOCAL_ADMIN=1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dashboard.config import Settings


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    actor: str
    reason: str


def decide_admin_access(
    settings: Settings, *, auth_configured: bool, user: Mapping[str, Any]
) -> AccessDecision:
    if auth_configured:
        if not user.get("is_logged_in", False):
            return AccessDecision(False, "anonymous", "Log in to use admin actions.")
        email = str(user.get("email") or "").strip().lower()
        if email and email in settings.admin_emails:
            return AccessDecision(True, email, "on the admin allow-list")
        return AccessDecision(
            False, email or "unknown", "Your account is not on the admin allow-list (DASHBOARD_ADMIN_EMAILS)."
        )
    if settings.local_admin:
        return AccessDecision(True, "local-operator", "DASHBOARD_LOCAL_ADMIN is on for this local run")
    return AccessDecision(
        False,
        "anonymous",
        "Admin actions are off. Configure OIDC login with an admin allow-list, or for a local run "
        "start the dashboard with DASHBOARD_LOCAL_ADMIN=1.",
    )
