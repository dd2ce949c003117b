"""Redaction: Pattern-style arguments in every odd form; no token may survive."""

from __future__ import annotations

import json

import pytest

from dashboard.redaction import (
    MAX_ITEMS,
    MAX_TEXT_CHARS,
    REDACTED,
    redact_arguments,
    redact_for_log,
    redact_text,
    token_environment,
)

ACCESS = "access-sandbox-5c3e9f0a-7d2b-4c1e-9a8f-1b2c3d4e5f60"
ACCESS_PROD = "access-production-aa11bb22-cc33-4d44-8e55-ff6677889900"
PUBLIC = "public-sandbox-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
LINK = "link-sandbox-11112222-3333-4444-5555-666677778888"
PROCESSOR = "processor-sandbox-abcdef12-3456-7890-abcd-ef1234567890"
SECRET = "0123456789abcdef0123456789abcd"  # Plaid secrets are 30 hex characters
OPAQUE = "opaque-credential-value-Zq81"  # no token shape: only its key gives it away
ALL = (ACCESS, ACCESS_PROD, PUBLIC, LINK, PROCESSOR, SECRET, OPAQUE)


def assert_clean(out: str) -> None:
    for token in ALL:
        assert token not in out, token
    # no fragment long enough to matter either
    for token in (ACCESS, ACCESS_PROD, PUBLIC, SECRET):
        assert token[-12:] not in out


@pytest.mark.parametrize(
    "arguments",
    [
        # what Pattern writes
        json.dumps([{"access_token": ACCESS, "cursor": None, "count": 100}]),
        json.dumps([{"public_token": PUBLIC}]),
        # nested objects and lists, camelCase and odd keys
        json.dumps([{"options": {"auth": {"accessToken": ACCESS}, "list": [{"secret": SECRET}]}}]),
        json.dumps({"tokens": [ACCESS, ACCESS_PROD], "client": {"client_secret": OPAQUE}}),
        json.dumps([[[[{"processor_token": PROCESSOR}]]]]),
        json.dumps([{"Authorization": f"Bearer {OPAQUE}"}]),
        json.dumps([{"headers": {"PLAID-SECRET": OPAQUE, "PLAID-CLIENT-ID": "abc"}}]),
        # tokens inside ordinary strings, and JSON inside a string
        json.dumps([{"note": f"retry with {ACCESS} later", "url": f"https://x/?access_token={OPAQUE}&a=1"}]),
        json.dumps([{"body": json.dumps({"access_token": OPAQUE, "link_token": LINK})}]),
        # a token as a key
        json.dumps({ACCESS: 1}),
        # invalid JSON: truncated, Python repr, single quotes, key=value text
        '[{"access_token":"' + ACCESS + '","cursor":nul',
        "{'access_token': '" + OPAQUE + "', 'count': 100}",
        f"access_token={OPAQUE}, secret={SECRET}",
        f'{{"password": "{OPAQUE}" "api_key": "{OPAQUE}"}}',
        # odd JSON values
        json.dumps([{"access_token": {"nested": OPAQUE}}]),
        json.dumps([{"access_token": [OPAQUE]}]),
        json.dumps(ACCESS),
        "NaN",
        "",
        "null",
    ],
)
def test_no_token_survives_pattern_style_arguments(arguments):
    out = redact_arguments(arguments)
    assert_clean(out)
    assert_clean(redact_for_log(arguments))


def test_pattern_arguments_stay_readable():
    out = redact_arguments(json.dumps([{"access_token": ACCESS, "cursor": None, "count": 100}]))
    assert json.loads(out) == [{"access_token": REDACTED, "cursor": None, "count": 100}]
    assert out.count("\n") > 2  # pretty-printed
    inst = json.dumps([{"institution_id": "ins_109508", "country_codes": ["US"]}])
    assert json.loads(redact_arguments(inst)) == [{"institution_id": "ins_109508", "country_codes": ["US"]}]
    assert redact_arguments(None) == ""


def test_huge_values_are_cut_and_still_clean():
    huge_string = json.dumps([{"access_token": ACCESS, "blob": ("x" * 500_000) + ACCESS}])
    out = redact_arguments(huge_string)
    assert_clean(out)
    assert len(out) < 10_000
    huge_list = json.dumps([{"access_token": ACCESS}] * 5000)
    out = redact_arguments(huge_list)
    assert_clean(out)
    assert f"{5000 - MAX_ITEMS} more items" in out
    huge_dict = json.dumps({f"k{i}": ACCESS for i in range(1000)})
    out = redact_arguments(huge_dict)
    assert_clean(out)
    assert f"{1000 - MAX_ITEMS} more keys" in out


def test_huge_invalid_text_cut_through_a_secret_leaves_no_part_of_it():
    # the cut falls inside the secret: its head must not be left behind
    text = "y" * (MAX_TEXT_CHARS - 10) + " " + SECRET + " tail"
    out = redact_text(text)
    assert SECRET[:10] not in out
    assert out.endswith("[truncated]")
    out = redact_arguments("{" + "z" * 3_000_000 + ACCESS)
    assert_clean(out)


def test_deep_nesting_is_refused_not_crashed():
    deep = "[" * 5000 + json.dumps({"access_token": ACCESS}) + "]" * 5000
    assert_clean(redact_arguments(deep))
    nested: object = {"access_token": ACCESS}
    for _ in range(100):
        nested = {"a": nested}
    assert_clean(redact_arguments(json.dumps(nested)))


def test_bytes_and_parsed_values():
    assert_clean(redact_arguments(json.dumps([{"access_token": ACCESS}]).encode()))
    assert_clean(redact_arguments([{"access_token": ACCESS, "n": 1}]))
    assert_clean(redact_for_log({"secret": SECRET, "msg": f"failed for {ACCESS}"}))
    assert_clean(redact_for_log(RuntimeError(f"bad token {ACCESS}")))


def test_token_environment_is_read_from_the_shape():
    assert token_environment(json.dumps([{"access_token": ACCESS}])) == "sandbox"
    assert token_environment(json.dumps([{"access_token": ACCESS_PROD}])) == "production"
    assert token_environment('[{"count": 100}]') is None
    assert token_environment(None) is None
