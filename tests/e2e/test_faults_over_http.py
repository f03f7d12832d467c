"""Faults at the socket level, over real HTTP: `chalice local` with its AWS calls through a fault proxy.

SNS and DynamoDB hang, answer late, reset connections and answer 5xx; the
service answers Segment within its 5-second timeout, with a 5xx it retries and
a Retry-After it can honour, and publishes each event once, or twice at most
when SNS took it without answering (the local stage has a dedup table, here
with a 5-second claim window).
"""

import json
import time

import boto3
import pytest
import requests

from chalicelib.keys import KeyStore
from tests.aws import basic_auth
from tests.e2e.conftest import CLAIM_SECONDS, DEMO_KEY, FaultyService
from tools.provision import stage_environment

SEGMENT_TIMEOUT_SECONDS = 5.0
KEYS_TABLE = stage_environment("local")["API_KEYS_TABLE"]


def send(
    service: FaultyService, body: bytes | dict[str, object], path: str = "/v1/segment", key: str = DEMO_KEY
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": basic_auth(key), "Content-Type": "application/json"}
    return requests.post(f"{service.url}{path}", data=data, headers=headers, timeout=30)


def post(
    service: FaultyService, body: bytes | dict[str, object], path: str = "/v1/segment", key: str = DEMO_KEY
) -> tuple[int, float]:
    response = send(service, body, path, key)
    return response.status_code, response.elapsed.total_seconds()


def event(message_id: str) -> dict[str, object]:
    return {"type": "identify", "userId": "u1", "messageId": message_id}


def test_an_sns_that_hangs_or_answers_too_late_is_waited_out_and_each_event_published_at_most_twice(
    faulty_service: FaultyService,
) -> None:
    # GIVEN SNS never answers one publish, and takes the other without answering in time
    faulty_service.proxy.fail("Publish", times=1, kind="hang")
    hung = send(faulty_service, event("m-hang"))
    faulty_service.proxy.fail("Publish", times=1, kind="late", delay=2.0)
    late = send(faulty_service, event("m-late"))
    # THEN each is a 503 in time, which Segment is told to retry once the claim window is over
    for answer in (hung, late):
        assert (answer.status_code, answer.elapsed.total_seconds() < SEGMENT_TIMEOUT_SECONDS) == (503, True)
        assert answer.headers["Retry-After"] == str(CLAIM_SECONDS)
        assert "perhaps published: SNS did not answer (ReadTimeoutError)" in answer.json()["message"]
    # WHEN Segment redelivers at once: still held, nothing published again
    for message_id in ("m-hang", "m-late"):
        assert post(faulty_service, event(message_id))[0] == 503
    # WHEN it redelivers after the window, as Retry-After said
    time.sleep(CLAIM_SECONDS)
    assert [post(faulty_service, event(message_id))[0] for message_id in ("m-hang", "m-late")] == [200, 200]
    # THEN the event SNS never took is published once, the one it took without answering twice at most
    assert sorted(faulty_service.published("identify")) == ["m-hang", "m-late", "m-late"]


def test_an_sns_that_throttles_is_retried_within_the_request(faulty_service: FaultyService) -> None:
    faulty_service.proxy.fail("Publish", times=2, status=400, code="Throttling")
    assert post(faulty_service, event("m-throttled"))[0] == 200
    assert faulty_service.proxy.calls.count("Publish") >= 3
    assert faulty_service.published("identify") == ["m-throttled"]


def test_a_connection_sns_resets_after_the_request_went_out_is_not_retried(faulty_service: FaultyService) -> None:
    faulty_service.proxy.fail("Publish", times=2, kind="reset")
    before = faulty_service.proxy.calls.count("Publish")
    status, seconds = post(faulty_service, event("m-reset"))
    assert (status, seconds < SEGMENT_TIMEOUT_SECONDS) == (503, True)
    assert faulty_service.proxy.calls.count("Publish") == before + 1


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
    # GIVEN a key the gateway has no decision kept for (it keeps one per key for 5 minutes, as API Gateway does)
    key = KeyStore(boto3.client("dynamodb", endpoint_url=faulty_service.aws_endpoint), KEYS_TABLE).create("1002")
    # WHEN the key table fails as the authorizer reads it
    faulty_service.proxy.fail("GetItem", times=10, kind="status", status=500, code="InternalServerError")
    status, seconds = post(faulty_service, event("m-auth"), key=key)
    # THEN Segment gets a 500, which it retries, and nothing is published
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
