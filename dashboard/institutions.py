"""Institutions used by the demo data and the offline Plaid stand-in.

The ids are Plaid-style (`ins_…`); the names are demo names (several are
Plaid's own sandbox institutions). Real deployments resolve names through
/institutions/get_by_id instead.
"""

from __future__ import annotations

# (plaid_institution_id, name, relative popularity)
DEMO_INSTITUTIONS: tuple[tuple[str, str, int], ...] = (
    ("ins_109508", "First Platypus Bank", 14),
    ("ins_109509", "First Gingham Credit Union", 9),
    ("ins_109510", "Tattersall Federal Credit Union", 6),
    ("ins_109511", "Tartan Bank", 10),
    ("ins_109512", "Houndstooth Bank", 7),
    ("ins_43", "Tartan-Dominion Bank of Canada", 3),
    ("ins_116834", "Flexible Platypus Open Banking", 3),
    ("ins_117650", "Royal Bank of Plaid", 5),
    ("ins_127287", "Platypus OAuth Bank", 6),
    ("ins_132241", "First Platypus OAuth App2App Bank", 2),
    ("ins_135858", "Windowpane Bank", 4),
    ("ins_132363", "Unhealthy Platypus Bank - Degraded", 2),
    ("ins_133402", "Unsupported Platypus Bank", 1),
    ("ins_200001", "Harbor Light Savings", 4),
    ("ins_200002", "Prairie State Bank", 3),
    ("ins_200003", "Redwood Community Credit Union", 3),
    ("ins_200004", "Summit Peak Bank", 4),
    ("ins_200005", "Bayside Federal", 2),
    ("ins_200006", "Granite Trust", 3),
    ("ins_200007", "Meridian Mutual", 2),
    ("ins_200008", "Copper Canyon Credit Union", 2),
    ("ins_200009", "Lakeshore National Bank", 3),
    ("ins_200010", "Northwind Savings & Loan", 2),
    ("ins_200011", "Silverline Digital Bank", 5),
)

DEMO_INSTITUTION_NAMES: dict[str, str] = {i: n for i, n, _ in DEMO_INSTITUTIONS}
