"""Plaid Ops Dashboard: an ops console over a Plaid Pattern database."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
