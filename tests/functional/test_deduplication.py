"""Effectively-once with DEDUP_TABLE: each (account, messageId) published at most once (docs/contract.md §6)."""

import threading
import time
from collections import Counter
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.config import DEFAULT_CLAIM_SECONDS
from chalicelib.dedup import RETENTION_SECONDS, record_key
from chalicelib.dynamodb import dynamodb_clients
from chalicelib.publisher import sns_clients
from tests.aws import DEDUP_TABLE, Deployment
from tests.faults import (
    THROTTLED,
    answers_lost,
    dynamodb_unreachable,
    hooked,
    receipts,
    releases,
    sns_publish_faults,
)
from tests.helpers import Api, answer_of, log_lines

EVENT = {"type": "identify", "userId": "u1", "messageId": "m-1"}


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


def test_the_claim_and_its_rounds_receipt_say_published_for_the_retention_window(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    before = int(time.time())
    api.post(EVENT)
    claim, receipt = deployment.claim_and_receipt("1234", "m-1")
    assert receipt is not None
    assert claim["at"] in receipt["published"]
    for record in (claim, receipt):
        assert before + RETENTION_SECONDS <= int(record["expiration"]) <= time.time() + RETENTION_SECONDS
    assert RETENTION_SECONDS >= 24 * 3600


def test_a_first_delivery_writes_one_claim_per_event_and_one_receipt_per_round_and_reads_nothing(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    calls: list[str] = []

    def count(model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        statements = " ".join(statement["Statement"] for statement in params.get("Statements", []))
        if DEDUP_TABLE in (params.get("TableName"), *params.get("RequestItems", {})) or DEDUP_TABLE in statements:
            calls.append(model.name)

    with hooked(dynamodb_clients(), "before-parameter-build.dynamodb", count):
        assert api.post(batch(*[f"m-{n}" for n in range(250)]), path="/v1/batch").status_code == 200
    # THEN nothing was read: 25 events were claimed per call, and each round (100, then 150) settled by one receipt
    assert sorted(Counter(calls).items()) == [("BatchExecuteStatement", 10), ("PutItem", 2)]
    assert len(deployment.dedup_records()) == 250 + 2


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
    # THEN the claim is deleted, and the round's receipt names nothing published
    records = deployment.dedup_records()
    assert record_key("1234", "m-1") not in records
    assert [set(record) for record in records.values()] == [{"id", "expiration"}]
    retried = api.post(EVENT)
    assert retried.status_code == 200
    assert message_ids(deployment) == ["m-1"]


def test_a_delivery_while_the_first_is_still_publishing_is_a_503(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    publishing, release = threading.Event(), threading.Event()

    def slow_sns(**kwargs: Any) -> None:
        publishing.set()
        release.wait(10)

    answers: list[Any] = []
    with hooked(sns_clients(), "before-call.sns.Publish", slow_sns):
        first = threading.Thread(target=lambda: answers.append(api.post(EVENT)))
        first.start()
        assert publishing.wait(10)
        # WHEN the same event arrives while the first delivery waits on SNS
        concurrent = api.post(EVENT)
        release.set()
        first.join()
    # THEN it is told to retry, and the event is published once
    assert concurrent.status_code == 503
    assert "held by another delivery" in answer_of(concurrent)["message"]
    assert 1 <= int(concurrent.headers["Retry-After"]) <= DEFAULT_CLAIM_SECONDS
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
    assert DEFAULT_CLAIM_SECONDS <= 60


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
    later = int(time.time()) + DEFAULT_CLAIM_SECONDS
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
    receipts = [record for key, record in deployment.dedup_records().items() if key.startswith("round/")]
    assert [set(receipt) for receipt in receipts] == [{"id", "expiration"}]
    assert api.post(batch("m-1", "m-2"), path="/v1/batch").status_code == 200
    assert sorted(message_ids(deployment)) == ["m-1", "m-2"]


def test_without_a_dedup_table_delivery_is_at_least_once(api: Api, deployment: Deployment) -> None:
    api.post(EVENT)
    api.post(EVENT)
    assert message_ids(deployment) == ["m-1", "m-1"]


def test_a_publish_whose_answer_was_lost_keeps_its_claim_until_the_window_ends(
    deduplicating: tuple[Api, Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, deployment = deduplicating
    monkeypatch.setenv("DEDUP_CLAIM_SECONDS", "7")
    # GIVEN SNS takes the event, but its answer never arrives
    before = int(time.time())
    with answers_lost("Publish"):
        first = api.post(EVENT)
    # THEN Segment is told to retry after the claim window, and the claim is kept, not released
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "7"
    claim, receipt = deployment.claim_and_receipt("1234", "m-1")
    assert receipt is not None and receipt["unknown"] == {claim["at"]}
    assert before + 7 <= int(claim["until"]) <= time.time() + 7
    # WHEN Segment redelivers within the window
    again = api.post(EVENT)
    # THEN it waits, and nothing is published a second time
    assert again.status_code == 503
    assert 1 <= int(again.headers["Retry-After"]) <= 7
    assert message_ids(deployment) == ["m-1"]
    # WHEN it redelivers after the window: published again, the one copy an unknown outcome may add
    deployment.expire_claims_in_progress()
    assert api.post(EVENT).status_code == 200
    assert message_ids(deployment) == ["m-1"]
    assert api.post(EVENT).status_code == 200
    assert message_ids(deployment) == []


def test_a_claim_whose_answer_was_lost_is_retried_and_recognized_as_its_own(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    # GIVEN DynamoDB writes the claim, but its answer is lost
    with answers_lost("PutItem", service="dynamodb", times=1):
        response = api.post(EVENT)
    # THEN the retried claim finds its own record, not another delivery's: the event is published once
    assert response.status_code == 200
    assert message_ids(deployment) == ["m-1"]


@pytest.mark.parametrize("setting", ["4", "0", "-1", "thirty"])
def test_a_claim_window_shorter_than_a_request_is_a_misconfiguration(
    deduplicating: tuple[Api, Deployment], monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    api, deployment = deduplicating
    monkeypatch.setenv("DEDUP_CLAIM_SECONDS", setting)
    response = api.post(EVENT)
    assert response.status_code == 500
    assert answer_of(response) == {
        "message": "this deployment is misconfigured: DEDUP_CLAIM_SECONDS must be a whole number of seconds, at least 5"
    }
    assert message_ids(deployment) == []


@pytest.mark.parametrize(
    ("body", "claim"), [(EVENT, "PutItem"), (batch("m-1", "m-2"), "BatchExecuteStatement")], ids=["event", "batch"]
)
def test_an_unreachable_dedup_table_has_its_own_reason_not_a_concurrent_delivery(
    deduplicating: tuple[Api, Deployment], capsys: pytest.CaptureFixture[str], body: dict[str, Any], claim: str
) -> None:
    api, deployment = deduplicating
    with dynamodb_unreachable(claim):
        response = api.post(body, path="/v1/batch" if "batch" in body else "/v1/segment")
    assert response.status_code == 503
    assert "the deduplication table is unavailable (EndpointConnectionError)" in answer_of(response)["message"]
    [line] = log_lines(capsys.readouterr().out, "request")
    assert line["reason"] == "DedupUnavailable"
    assert message_ids(deployment) == []


def test_a_receipt_that_could_not_be_written_is_said_and_logged(
    deduplicating: tuple[Api, Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = deduplicating
    with dynamodb_unreachable("PutItem", only=receipts):
        response = api.post(batch("m-1", "m-2"), path="/v1/batch")
    # SNS has both events: a 200, which says that a redelivery may publish them again
    assert response.status_code == 200
    assert answer_of(response) == {"accepted": 2, "rejected": [], "unrecorded": 2}
    [line] = log_lines(capsys.readouterr().out, "request")
    assert (line["published"], line["unrecorded"]) == (2, 2)


def test_a_claim_held_by_a_round_that_released_it_is_claimed_again_at_once(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    # GIVEN a delivery whose publish failed, whose receipt says so, and whose claim could not be deleted
    with sns_publish_faults(*[THROTTLED] * 20), dynamodb_unreachable("BatchExecuteStatement"):
        assert api.post(EVENT).status_code == 503
    assert record_key("1234", "m-1") in deployment.dedup_records()
    # WHEN Segment retries at once THEN the event is published, by a claim that took over the first
    assert api.post(EVENT).status_code == 200
    assert message_ids(deployment) == ["m-1"]
    claim, receipt = deployment.claim_and_receipt("1234", "m-1")
    assert receipt is not None and receipt["published"] == {claim["at"]}


def test_a_batch_sent_again_takes_over_the_claims_its_rounds_released_with_one_write_each(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    body = batch(*[f"m-{n}" for n in range(150)])
    # GIVEN a delivery whose publishes all failed, whose receipts say so, and whose claims could not be deleted
    with (
        sns_publish_faults(*[THROTTLED] * 1000, operation="PublishBatch"),
        dynamodb_unreachable("BatchExecuteStatement", only=releases),
    ):
        assert api.post(body, path="/v1/batch").status_code == 503
    assert len(deployment.dedup_records()) == 150 + 2
    statements: Counter[str] = Counter()

    def note(params: dict[str, Any], **kwargs: Any) -> None:
        statements.update(statement["Statement"].split()[0] for statement in params["Statements"])

    # WHEN Segment sends the batch again, and again after a 503 (a busy machine may leave a round no time)
    with hooked(dynamodb_clients(), "before-parameter-build.dynamodb.BatchExecuteStatement", note):
        for _ in range(5):
            if api.post(body, path="/v1/batch").status_code == 200:
                break
    # THEN every event is published once: a first round's INSERTs found the claims, which were taken over, and
    # the rest, read back, were taken over at once; one UPDATE per claim, nothing deleted
    assert sorted(message_ids(deployment)) == sorted(event["messageId"] for event in body["batch"])
    assert (statements["UPDATE"], statements["DELETE"]) == (150, 0)
    assert statements["INSERT"] % 100 == 0


def test_a_claim_whose_round_left_no_receipt_holds_redeliveries_off_until_its_window_ends(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, deployment = deduplicating
    # GIVEN a delivery that published the event but could not write its receipt
    with dynamodb_unreachable("PutItem", only=receipts):
        assert answer_of(api.post(EVENT)) == {"messageId": "m-1", "unrecorded": 1}
    # WHEN Segment delivers it again within the claim window THEN it is held off, not published
    held = api.post(EVENT)
    assert held.status_code == 503
    assert "held by another delivery" in answer_of(held)["message"]
    assert message_ids(deployment) == ["m-1"]
    # WHEN it delivers it after the window THEN it is published again: the copy an unrecorded event may add
    deployment.expire_claims_in_progress()
    assert api.post(EVENT).status_code == 200
    assert message_ids(deployment) == ["m-1"]


def test_records_written_before_receipts_are_still_understood(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    later = str(int(time.time()) + RETENTION_SECONDS)
    for message_id, status in (("m-1", "completed"), ("m-2", "in_progress")):
        deployment.dynamodb.put_item(
            TableName=DEDUP_TABLE,
            Item={"id": {"S": record_key("1234", message_id)}, "status": {"S": status}, "expiration": {"N": later}},
        )
    assert api.post(EVENT).status_code == 200
    assert api.post({**EVENT, "messageId": "m-2"}).status_code == 503
    assert message_ids(deployment) == []
