"""Effectively-once with DEDUP_TABLE: each (account, messageId) published at most once (docs/contract.md §6)."""

import threading
import time
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.dedup import IN_PROGRESS_SECONDS, RETENTION_SECONDS, record_key
from chalicelib.publisher import sns_client
from tests.aws import DEDUP_TABLE, Deployment
from tests.conftest import Api, answer_of, configure
from tests.faults import THROTTLED, dynamodb_unreachable, sns_publish_faults

EVENT = {"type": "identify", "userId": "u1", "messageId": "m-1"}


@pytest.fixture
def deduplicating(client: Client, aws: None, monkeypatch: pytest.MonkeyPatch) -> tuple[Api, Deployment]:
    deployment = Deployment(dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    return Api(client, deployment.create_key("1234")), deployment


def message_ids(deployment: Deployment, topic: str = "identify") -> list[str]:
    return [item.event["messageId"] for item in deployment.delivered(topic)]


def test_a_redelivered_event_is_acknowledged_without_being_published_again(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    first, second = api.post(EVENT), api.post(EVENT)
    assert (first.status_code, second.status_code) == (200, 200)
    assert answer_of(first) == answer_of(second) == {"messageId": "m-1"}
    assert message_ids(deployment) == ["m-1"]


def test_the_record_is_completed_for_the_retention_window(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    before = int(time.time())
    api.post(EVENT)
    record = deployment.dedup_records()[record_key("1234", "m-1")]
    assert record["status"] == "completed"
    assert before + RETENTION_SECONDS <= int(record["expiration"]) <= time.time() + RETENTION_SECONDS
    assert RETENTION_SECONDS >= 24 * 3600


def test_the_same_message_id_in_two_accounts_is_two_events(
    deduplicating: tuple[Api, Deployment], client: Client
) -> None:
    api, deployment = deduplicating
    other = Api(client, deployment.create_key("5678"))
    api.post(EVENT)
    other.post(EVENT)
    assert [item.message["accountId"] for item in deployment.delivered("identify")] == ["1234", "5678"]


def test_spellings_of_one_message_id_are_one_event(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    api.post(EVENT)
    api.post({"type": "identify", "user_id": "u1", "message_id": "m-1"})
    assert message_ids(deployment) == ["m-1"]


def test_a_failed_publish_releases_its_claim_so_that_segments_retry_publishes(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    with sns_publish_faults(*[THROTTLED] * 20):
        failed = api.post(EVENT)
    assert failed.status_code == 503
    assert deployment.dedup_records() == {}
    retried = api.post(EVENT)
    assert retried.status_code == 200
    assert message_ids(deployment) == ["m-1"]


def test_a_delivery_while_the_first_is_still_publishing_is_a_503(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    publishing, release = threading.Event(), threading.Event()

    def slow_sns(**kwargs: Any) -> None:
        publishing.set()
        release.wait(10)

    events: Any = sns_client().meta.events
    events.register("before-call.sns.Publish", slow_sns)
    answers: list[Any] = []
    first = threading.Thread(target=lambda: answers.append(api.post(EVENT)))
    first.start()
    assert publishing.wait(10)
    # WHEN the same event arrives while the first delivery waits on SNS
    concurrent = api.post(EVENT)
    release.set()
    first.join()
    events.unregister("before-call.sns.Publish", slow_sns)
    # THEN it is told to retry, and the event is published once
    assert concurrent.status_code == 503
    assert "in progress" in answer_of(concurrent)["message"]
    assert answers[0].status_code == 200
    assert message_ids(deployment) == ["m-1"]


def test_a_claim_left_by_a_request_that_died_expires(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    stale = int(time.time()) - 1
    deployment.dynamodb.put_item(
        TableName=DEDUP_TABLE,
        Item={"id": {"S": record_key("1234", "m-1")}, "status": {"S": "in_progress"}, "expiration": {"N": str(stale)}},
    )
    assert api.post(EVENT).status_code == 200
    assert message_ids(deployment) == ["m-1"]
    assert IN_PROGRESS_SECONDS <= 60


def test_a_dedup_table_that_cannot_be_read_is_a_503_and_nothing_is_published(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    with dynamodb_unreachable("PutItem"):
        response = api.post(EVENT)
    assert response.status_code == 503
    assert "deduplication" in answer_of(response)["message"]
    assert message_ids(deployment) == []


def test_an_event_published_but_not_recorded_is_still_acknowledged(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    with dynamodb_unreachable("BatchWriteItem"):
        response = api.post(EVENT)
    # SNS has the event: a 5xx would have Segment send it again.
    assert response.status_code == 200
    assert message_ids(deployment) == ["m-1"]


def batch(*message_ids: str) -> dict[str, Any]:
    return {"batch": [{"type": "identify", "userId": "u1", "messageId": message_id} for message_id in message_ids]}


def test_a_batch_publishes_each_message_id_once_even_when_it_repeats_one(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    response = api.post(batch("m-1", "m-2", "m-1", "m-3", "m-2"), path="/v1/batch")
    assert answer_of(response) == {"accepted": 5, "rejected": []}
    assert sorted(message_ids(deployment)) == ["m-1", "m-2", "m-3"]


def test_a_resent_batch_publishes_only_what_it_had_not_published(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    api.post(EVENT)
    response = api.post(batch("m-1", "m-2"), path="/v1/batch")
    assert answer_of(response)["accepted"] == 2
    assert message_ids(deployment) == ["m-1", "m-2"]
    api.post(batch("m-1", "m-2"), path="/v1/batch")
    assert message_ids(deployment) == []


def test_a_batch_with_an_event_in_progress_elsewhere_is_a_503_after_publishing_the_rest(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    later = int(time.time()) + IN_PROGRESS_SECONDS
    deployment.dynamodb.put_item(
        TableName=DEDUP_TABLE,
        Item={"id": {"S": record_key("1234", "m-2")}, "status": {"S": "in_progress"}, "expiration": {"N": str(later)}},
    )
    response = api.post(batch("m-1", "m-2", "m-3"), path="/v1/batch")
    assert response.status_code == 503
    assert sorted(message_ids(deployment)) == ["m-1", "m-3"]
    # WHEN the other delivery has finished and the client retries
    deployment.dynamodb.delete_item(TableName=DEDUP_TABLE, Key={"id": {"S": record_key("1234", "m-2")}})
    assert api.post(batch("m-1", "m-2", "m-3"), path="/v1/batch").status_code == 200
    assert message_ids(deployment) == ["m-2"]


def test_a_batch_whose_publish_fails_releases_its_claims(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    with sns_publish_faults(*[THROTTLED] * 20, operation="PublishBatch"):
        assert api.post(batch("m-1", "m-2"), path="/v1/batch").status_code == 503
    assert deployment.dedup_records() == {}
    assert api.post(batch("m-1", "m-2"), path="/v1/batch").status_code == 200
    assert sorted(message_ids(deployment)) == ["m-1", "m-2"]


def test_without_a_dedup_table_delivery_is_at_least_once(api: Api, deployment: Deployment) -> None:
    api.post(EVENT)
    api.post(EVENT)
    assert message_ids(deployment) == ["m-1", "m-1"]
