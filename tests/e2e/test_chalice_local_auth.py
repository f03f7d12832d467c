"""Authorization over real HTTP against `chalice local`: refusals are answers, not dropped connections."""

import json

import pytest
import requests

from chalicelib.keys import DISABLED, hash_key
from tests.aws import basic_auth
from tests.e2e.conftest import LocalService

EVENT = {"type": "identify", "userId": "u1"}


def post(service: LocalService, authorization: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json", "User-Agent": "Segment.io/1.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(f"{service.url}/v1/segment", data=json.dumps(EVENT), headers=headers, timeout=10)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "Basic %%%", basic_auth("unknown-key")],
    ids=["no header", "not Basic", "not base64", "unknown key"],
)
def test_chalice_local_answers_401_where_the_authorizer_refuses(
    local_service: LocalService, authorization: str | None
) -> None:
    response = post(local_service, authorization)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert response.headers["Content-Type"].startswith("application/json")


def test_chalice_local_answers_403_for_a_disabled_key(local_service: LocalService) -> None:
    key = local_service.keys.create("77")
    local_service.keys.set_status(hash_key(key), DISABLED)
    assert post(local_service, basic_auth(key)).status_code == 403


def test_chalice_local_publishes_for_an_active_key(local_service: LocalService) -> None:
    response = post(local_service, basic_auth(local_service.keys.create("77")))
    assert response.status_code == 200
    assert response.json()["messageId"]
