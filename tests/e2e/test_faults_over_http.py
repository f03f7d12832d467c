"""Faults at the socket level, over real HTTP: `chalice local` with its AWS calls through a fault proxy.

SNS and DynamoDB hang, reset connections and answer 5xx; the service answers
Segment within its 5-second timeout, with a 5xx it retries, and publishes each
event once (the local stage has a dedup table).
"""

import json
import time

import pytest
import requests

from tests.aws import basic_auth
from tests.e2e.conftest import DEMO_KEY, FaultyService

SEGMENT_TIMEOUT_SECONDS = 5.0


def post(service: FaultyService, body: bytes | dict[str, object], path: str = "/v1/segment") -> tuple[int, float]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": basic_auth(DEMO_KEY), "Content-Type": "application/json"}
    started = time.monotonic()
    response = requests.post(f"{service.url}{path}", data=data, headers=headers, timeout=30)
    return response.status_code, time.monotonic() - started


def event(message_id: str) -> dict[str, object]:
    return {"type": "identify", "userId": "u1", "messageId": message_id}


def test_an_sns_that_hangs_is_a_503_within_segments_timeout_and_the_retry_publishes_once(
    faulty_service: FaultyService,
) -> None:
    faulty_service.proxy.fail("Publish", times=10, kind="hang")
    status, seconds = post(faulty_service, event("m-hang"))
    assert (status, seconds < SEGMENT_TIMEOUT_SECONDS) == (503, True)
    faulty_service.proxy.rules.clear()
    assert post(faulty_service, event("m-hang"))[0] == 200
    assert faulty_service.published("identify") == ["m-hang"]


def test_connections_sns_resets_are_retried_within_the_request(faulty_service: FaultyService) -> None:
    faulty_service.proxy.fail("Publish", times=2, kind="reset")
    assert post(faulty_service, event("m-reset"))[0] == 200
    assert faulty_service.published("identify") == ["m-reset"]


@pytest.mark.parametrize("kind", ["hang", "status"])
def test_a_dedup_table_that_fails_is_a_503_within_segments_timeout_and_publishes_nothing(
    faulty_service: FaultyService, kind: str
) -> None:
    faulty_service.proxy.fail("PutItem", times=10, kind=kind, status=500, code="InternalServerError")
    status, seconds = post(faulty_service, event("m-dedup"))
    assert (status, seconds < SEGMENT_TIMEOUT_SECONDS) == (503, True)
    assert faulty_service.published("identify") == []


def test_a_key_table_that_fails_is_a_500_from_the_authorizer_so_segment_retries(
    faulty_service: FaultyService,
) -> None:
    faulty_service.proxy.fail("GetItem", times=10, kind="status", status=500, code="InternalServerError")
    status, seconds = post(faulty_service, event("m-auth"))
    assert (status, seconds < SEGMENT_TIMEOUT_SECONDS) == (500, True)
    assert faulty_service.published("identify") == []


def test_a_redelivery_after_an_answer_lost_in_transit_is_not_published_again(faulty_service: FaultyService) -> None:
    # GIVEN Segment gave up waiting on a delivery that the service did publish
    assert post(faulty_service, event("m-twice"))[0] == 200
    # WHEN it delivers the event again
    assert post(faulty_service, event("m-twice"))[0] == 200
    # THEN the event is published once
    assert faulty_service.published("identify") == ["m-twice"]


HOSTILE = [
    b'{"type":"identify","userId":"u1","pad":"' + b"x" * 10 * 1024 * 1024 + b'"}',
    b"[" * 100_000,
    b'{"type":"identify","userId":"\xff"}',
    b'{"type":"identify","userId":"u1","n":1e400}',
]


def test_hostile_bodies_over_http_are_4xx_and_the_server_keeps_serving(faulty_service: FaultyService) -> None:
    for body in HOSTILE:
        status, _ = post(faulty_service, body)
        assert 400 <= status < 500
    assert post(faulty_service, event("m-after"))[0] == 200
