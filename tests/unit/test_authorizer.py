"""Reading Segment's Basic credentials, and the policy API Gateway caches for them."""

import base64
from typing import Any

import pytest

from chalicelib.authorizer import Decision, _policy, api_key_from


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
    policy: dict[str, Any] = _policy(Decision(outcome, "", "42"), METHOD_ARN)
    [statement] = policy["policyDocument"]["Statement"]
    assert statement["Effect"] == effect
    assert statement["Resource"] == ["arn:aws:execute-api:us-east-1:123456789012:abc123/api/*/*"]
    assert policy["context"] == {"account_id": "42"}
    assert policy["principalId"] == "42"
