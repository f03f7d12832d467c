"""Reading Segment's Basic credentials, and the policy API Gateway caches for them."""

import base64
from collections import Counter
from typing import Any

import pytest

from chalicelib.authorizer import Decision, _policy, api_key_from
from chalicelib.keys import USAGE_KEY_BUCKETS, usage_key


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(
    ("token", "key"),
    [
        (basic(b"k3y:"), "k3y"),
        (basic(b"k3y:ignored-password"), "k3y"),
        (basic(b"k3y"), "k3y"),
        ("basic " + base64.b64encode(b"k3y:").decode(), "k3y"),
        ("BASIC  " + base64.b64encode(b"k3y:").decode() + " ", "k3y"),
        (basic("kéy:".encode()), "kéy"),
    ],
)
def test_the_key_is_the_basic_username(token: str, key: str) -> None:
    assert api_key_from(token) == key


@pytest.mark.parametrize(
    "token",
    [None, "", "Basic", "Basic ", "Bearer abc", "Basic !!!", basic(b":secret"), basic(b"\xff:"), basic(b"k" * 2000)],
)
def test_anything_else_has_no_key(token: str | None) -> None:
    assert api_key_from(token) is None


METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/api/POST/v1/segment"


@pytest.mark.parametrize(("outcome", "effect"), [("allow", "Allow"), ("deny", "Deny")])
def test_the_policy_covers_every_route_because_api_gateway_caches_it_per_key(outcome: str, effect: str) -> None:
    policy: dict[str, Any] = _policy(Decision(outcome, "", "42"), METHOD_ARN, TABLE)
    [statement] = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == effect
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/api/*/*"]
    assert policy["context"] == {"account_id": "42"}
    assert policy["principalId"] == "42"


TABLE = "emma-segment-prod-api-keys"


def test_an_allowed_account_is_counted_against_its_usage_plan_key_and_a_denied_one_against_none() -> None:
    # GIVEN account 42, allowed and then denied
    allowed = _policy(Decision("allow", "", "42"), METHOD_ARN, TABLE)
    denied = _policy(Decision("deny", "", "42"), METHOD_ARN, TABLE)

    # THEN only the allowed policy names a usage key: the account's bucket, the same on every decision
    assert allowed["usageIdentifierKey"] == usage_key(TABLE, "42") == usage_key(TABLE, "42")
    assert "usageIdentifierKey" not in denied


def test_usage_keys_spread_accounts_over_the_buckets_and_keep_stages_apart() -> None:
    # GIVEN many accounts' usage keys in one stage
    keys = [usage_key(TABLE, str(account)) for account in range(20_000)]

    # THEN each is one of the buckets' keys, long enough for API Gateway (20 characters at least)
    buckets = Counter(key.rsplit("-", 1)[1] for key in keys)
    assert set(buckets) <= {f"{bucket:04d}" for bucket in range(USAGE_KEY_BUCKETS)}
    assert all(key.startswith(f"{TABLE}-usage-") and len(key) >= 20 for key in keys)
    # AND the accounts fill every bucket, none with more than twice its share
    assert len(buckets) == USAGE_KEY_BUCKETS
    assert max(buckets.values()) <= 2 * len(keys) / USAGE_KEY_BUCKETS
    # AND another stage's key for the same account is another key
    assert usage_key("emma-segment-dev-api-keys", "42") != usage_key(TABLE, "42")
