"""The triage knowledge base covers every code in shared/reference/plaid-api.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard.triage import KNOWLEDGE_BASE, TriageClass, classify, escalate_if_persistent

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "plaid-api.md"
CLASS_BY_ROW = {
    "user action": TriageClass.USER_ACTION,
    "transient": TriageClass.TRANSIENT,
    "integration bug": TriageClass.INTEGRATION,
    "Plaid-side (ticket)": TriageClass.PLAID_SIDE,
}


def _reference_codes() -> dict[str, TriageClass]:
    assert REFERENCE.exists(), f"{REFERENCE} missing: CI clones main with shared/ beside it"
    text = REFERENCE.read_text()
    codes: dict[str, TriageClass] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in CLASS_BY_ROW:
            for code in re.findall(r"\b[A-Z][A-Z_]{3,}\b", cells[2]):
                codes.setdefault(code, CLASS_BY_ROW[cells[0]])
    rate = re.search(r"Rate-limit codes:(.*?)\n\n", text, re.S).group(1)
    for code in re.findall(r"\b[A-Z][A-Z_]{3,}\b", rate):
        codes.setdefault(code, TriageClass.TRANSIENT)
    return codes


def test_every_reference_code_is_classified_as_the_reference_says():
    codes = _reference_codes()
    codes.pop("RATE_LIMIT_EXCEEDED", None)  # an error_type, named in the table's prose
    assert len(codes) > 40
    for code, expected in codes.items():
        assert code in KNOWLEDGE_BASE, code
        # Plaid-side codes listed under transient (persisting) keep their transient class.
        if expected is TriageClass.PLAID_SIDE and code == "INTERNAL_SERVER_ERROR":
            continue
        assert KNOWLEDGE_BASE[code].triage_class is expected, code


def test_unknown_codes_are_unclassified_not_guessed():
    t = classify("SOMETHING_NEW", "ITEM_ERROR")
    assert t.triage_class is TriageClass.UNCLASSIFIED and "not in our knowledge base" in t.next_step
    assert classify("NEW_LIMIT", "RATE_LIMIT_EXCEEDED").triage_class is TriageClass.TRANSIENT
    with pytest.raises(ValueError):
        classify(None, None)


def test_user_action_says_ticket_is_not_the_move_and_persistent_transient_escalates():
    t = classify("ITEM_LOGIN_REQUIRED")
    assert t.triage_class is TriageClass.USER_ACTION and not t.ticket_advised
    assert "update mode" in t.next_step
    down = classify("INSTITUTION_DOWN")
    assert escalate_if_persistent(down, 1).triage_class is TriageClass.TRANSIENT
    assert escalate_if_persistent(down, 8).triage_class is TriageClass.PLAID_SIDE
