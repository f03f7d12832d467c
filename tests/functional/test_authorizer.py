"""The API key authorizer, run by Chalice's local gateway in front of the real view."""

import base64
import json
from typing import Any

import pytest
from chalice.test import Client

from tests.aws import Deployment, basic_auth
from tests.faults import dynamodb_unreachable
from tests.helpers import Api, answer_of

EVENT = {"type": "identify", "userId": "u1"}


def post_with_authorization(client: Client, authorization: str | None) -> object:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return client.http.post("/v1/segment", headers=headers, body=json.dumps(EVENT).encode())


UNAUTHORIZED = [
    ("no header", None),
    ("empty", ""),
    ("Bearer scheme", "Bearer abc"),
    ("Basic without credentials", "Basic "),
    ("not base64", "Basic %%%"),
    ("not UTF-8", "Basic " + base64.b64encode(b"\xff\xfe:").decode()),
    ("empty username", basic_auth("")),
    ("10,000 colons", "Basic " + base64.b64encode(b":" * 10_000).decode()),
    ("an unknown key", basic_auth("not-a-key")),
]


@pytest.mark.parametrize(("case", "authorization"), UNAUTHORIZED, ids=[case for case, _ in UNAUTHORIZED])
def test_missing_malformed_or_unknown_credentials_are_a_401(
    client: Client, deployment: Deployment, case: str, authorization: str | None
) -> None:
    deployment.create_key()
    response = post_with_authorization(client, authorization)
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert json.loads(response.body) == {"message": "Unauthorized"}  # type: ignore[attr-defined]
    assert deployment.delivered_anywhere() == []


def test_a_disabled_key_is_a_403_and_nothing_is_published(api: Api, deployment: Deployment) -> None:
    deployment.disable(api.key)
    response = api.post(EVENT)
    assert response.status_code == 403
    assert deployment.delivered_anywhere() == []


def test_an_active_key_publishes_for_its_own_account(client: Client, deployment: Deployment) -> None:
    first, second = deployment.create_key("111"), deployment.create_key("222")
    Api(client, first).post(EVENT)
    Api(client, second).post(EVENT)
    assert [item.message["accountId"] for item in deployment.delivered("identify")] == ["111", "222"]


def test_the_password_is_ignored_and_the_scheme_is_case_insensitive(api: Api, deployment: Deployment) -> None:
    with_password = api.post(EVENT, headers={"Authorization": basic_auth(api.key, "anything")})
    lower_scheme = api.post(EVENT, headers={"Authorization": basic_auth(api.key).replace("Basic", "basic")})
    assert (with_password.status_code, lower_scheme.status_code) == (200, 200)


def test_a_key_table_that_cannot_be_read_is_a_500_so_segment_retries(client: Client, deployment: Deployment) -> None:
    key = deployment.create_key()
    with dynamodb_unreachable("GetItem"):
        response = Api(client, key).post(EVENT)
    assert response.status_code == 500
    assert "retry" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


def test_a_key_table_read_that_fails_once_is_retried_within_the_authorizers_budget(
    client: Client, deployment: Deployment
) -> None:
    key = deployment.create_key()
    with dynamodb_unreachable("GetItem", times=1):
        response = Api(client, key).post(EVENT)
    assert response.status_code == 200
    assert len(deployment.delivered("identify")) == 1


def test_no_answer_echoes_the_key(client: Client, deployment: Deployment) -> None:
    key = deployment.create_key()
    disabled = deployment.create_key()
    deployment.disable(disabled)
    api = Api(client, key)
    answers = [
        api.post(EVENT),
        api.post(b"{"),
        api.post({"type": "nope"}),
        api.post(EVENT, headers={"content-type": "text/plain"}),
        api.post(EVENT, key=disabled),
        api.post(EVENT, key=key + "x"),
    ]
    for response in answers:
        text = response.body.decode() + json.dumps(response.headers)
        for secret in (key, disabled, basic_auth(key), basic_auth(disabled)):
            assert secret not in text


def test_who_am_i_names_the_keys_account_and_refuses_unknown_and_disabled_keys(
    client: Client, deployment: Deployment
) -> None:
    # GIVEN an active key of account 111 and a disabled key of account 222
    active, disabled = deployment.create_key("111"), deployment.create_key("222")
    deployment.disable(disabled)

    def me(authorization: str) -> Any:
        return client.http.get("/v1/me", headers={"authorization": authorization})

    # WHEN the Actions destination checks each key, and one that does not exist
    answers = [me(basic_auth(active)), me(basic_auth(disabled)), me(basic_auth("not-a-key"))]

    # THEN only the active key is accepted, and its answer names its account
    assert [response.status_code for response in answers] == [200, 403, 401]
    assert answer_of(answers[0]) == {"accountId": "111"}
    assert deployment.delivered_anywhere() == []
