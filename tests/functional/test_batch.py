"""POST /v1/batch: Segment's libraries' batches, published with PublishBatch."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from chalicelib.publisher import sns_clients
from tests.aws import Deployment
from tests.faults import THROTTLED, TOPIC_NOT_FOUND, hooked, sns_publish_faults
from tests.helpers import Api, answer_of


def batch(*events: dict[str, Any], **shared: Any) -> dict[str, Any]:
    return {"batch": list(events), **shared}


def identify(message_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": "u1", "messageId": message_id, **fields}


@contextmanager
def publish_batch_calls() -> Iterator[list[dict[str, Any]]]:
    """Records the parameters of every PublishBatch call the service makes (without changing them)."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(params)

    with hooked(sns_clients(), "before-parameter-build.sns.PublishBatch", record):
        yield calls


def test_every_event_of_a_batch_is_published_to_its_types_topic(api: Api, deployment: Deployment) -> None:
    events = [
        identify("m-1"),
        {"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "m-2"},
        {"type": "page", "anonymousId": "a1", "messageId": "m-3"},
        {"type": "group", "userId": "u1", "groupId": "g1", "messageId": "m-4"},
        {"type": "alias", "userId": "u1", "previousId": "a1", "messageId": "m-5"},
        {"type": "screen", "anonymousId": "a1", "messageId": "m-6"},
        {"type": "delete", "userId": "u1", "messageId": "m-7"},
    ]
    response = api.post(batch(*events), path="/v1/batch")
    assert response.status_code == 200
    assert answer_of(response) == {"accepted": 7, "rejected": []}
    for event in events:
        [delivered] = deployment.delivered(event["type"])
        assert delivered.event == event
        assert delivered.message["accountId"] == "1234"
        assert delivered.attributes["messageId"] == event["messageId"]


def test_invalid_events_are_listed_and_the_valid_ones_still_published(api: Api, deployment: Deployment) -> None:
    response = api.post(
        batch(
            identify("m-1"),
            {"type": "track", "userId": "u1", "messageId": "m-2"},
            "not an event",  # type: ignore[arg-type]
            {"type": "observability", "message_id": 42},
            identify("m-5"),
        ),
        path="/v1/batch",
    )
    assert response.status_code == 200
    answer = answer_of(response)
    assert answer["accepted"] == 2
    assert answer["rejected"] == [
        {"index": 1, "messageId": "m-2", "status": 400, "message": "event: is required"},
        {"index": 2, "status": 400, "message": "the event must be a JSON object"},
        {"index": 3, "messageId": "42", "status": 501, "message": answer["rejected"][2]["message"]},
    ]
    assert answer["rejected"][2]["message"].startswith("type: is not handled")
    assert [item.event["messageId"] for item in deployment.delivered("identify")] == ["m-1", "m-5"]
    assert deployment.delivered("track") == []


def test_a_long_message_id_is_quoted_to_its_first_100_characters_only(
    api: Api, deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    long_id = "m-" + "x" * 20_000
    # GIVEN a batch whose invalid event has a messageId far longer than any Segment sends, and such an event alone
    rejected = answer_of(api.post(batch({"type": "track", "userId": "u1", "messageId": long_id}), path="/v1/batch"))
    accepted = api.post(identify(long_id), path="/v1/identify")
    # THEN the answers and the log lines quote its first 100 characters, and the event is published with all of it
    assert rejected["rejected"] == [
        {"index": 0, "messageId": long_id[:100], "status": 400, "message": "event: is required"}
    ]
    assert answer_of(accepted) == {"messageId": long_id[:100]}
    assert [item.event["messageId"] for item in deployment.delivered("identify")] == [long_id]
    logged = capsys.readouterr().out
    assert long_id[:101] not in logged and long_id[:100] in logged


def test_batch_context_and_integrations_are_merged_under_the_events_own(api: Api, deployment: Deployment) -> None:
    shared = {
        "context": {"library": {"name": "analytics-python"}, "ip": "10.0.0.1"},
        "integrations": {"All": True},
        "sentAt": "2026-11-27T10:00:00.000Z",
    }
    api.post(
        batch(
            identify("m-1", context={"ip": "203.0.113.7"}),
            identify("m-2", integrations={"All": False}, sentAt="2026-11-27T09:00:00.000Z"),
            identify("m-3", context=None),
            **shared,
        ),
        path="/v1/batch",
    )
    first, second, third = (item.event for item in deployment.delivered("identify"))
    assert first["context"] == {"library": {"name": "analytics-python"}, "ip": "203.0.113.7"}
    assert first["integrations"] == {"All": True}
    assert first["sentAt"] == "2026-11-27T10:00:00.000Z"
    assert second["integrations"] == {"All": False}
    assert second["sentAt"] == "2026-11-27T09:00:00.000Z"
    assert third["context"] == shared["context"]


def test_a_bare_array_of_events_is_a_batch(api: Api, deployment: Deployment) -> None:
    response = api.post(json.dumps([identify("m-1"), identify("m-2")]), path="/v1/batch")
    assert answer_of(response) == {"accepted": 2, "rejected": []}
    assert len(deployment.delivered("identify")) == 2


def test_an_empty_batch_is_accepted(api: Api, deployment: Deployment) -> None:
    assert answer_of(api.post(batch(), path="/v1/batch")) == {"accepted": 0, "rejected": []}


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{", "not valid JSON"),
        (b'"events"', "batch array"),
        (b'{"events": []}', "batch"),
        (b'{"batch": {"type": "identify"}}', "batch"),
        (b'{"batch": [], "context": "web"}', "context"),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_400(api: Api, deployment: Deployment, body: bytes, named: str) -> None:
    response = api.post(body, path="/v1/batch")
    assert response.status_code == 400
    assert named in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


def test_more_than_2500_events_is_a_413(api: Api, deployment: Deployment) -> None:
    response = api.post(batch(*[{}] * 2501), path="/v1/batch")
    assert response.status_code == 413
    assert "2500" in answer_of(response)["message"]


def test_more_than_500_kb_is_a_413(api: Api, deployment: Deployment) -> None:
    response = api.post(batch(identify("m-1", traits={"notes": "x" * 500 * 1024})), path="/v1/batch")
    assert response.status_code == 413
    assert deployment.delivered_anywhere() == []


def test_publish_batch_calls_carry_at_most_ten_entries_and_256_kib(api: Api, deployment: Deployment) -> None:
    # GIVEN 24 events of ~20 KB each: 13 would fit under SNS's 256 KiB per call, but only 10 may go in one
    events = [identify(f"m-{n}", traits={"notes": "x" * 20_000}) for n in range(24)]
    with publish_batch_calls() as calls:
        response = api.post(batch(*events), path="/v1/batch")
    assert answer_of(response)["accepted"] == 24
    assert sorted(len(call["PublishBatchRequestEntries"]) for call in calls) == [4, 10, 10]
    assert len(deployment.delivered("identify")) == 24


def test_calls_are_split_to_stay_under_256_kib(api: Api, deployment: Deployment) -> None:
    events = [identify(f"m-{n}", traits={"notes": "x" * 100_000}) for n in range(4)]
    with publish_batch_calls() as calls:
        api.post(batch(*events), path="/v1/batch")
    for call in calls:
        size = sum(len(entry["Message"]) for entry in call["PublishBatchRequestEntries"])
        assert size <= 256 * 1024
    assert len(calls) == 2
    assert len(deployment.delivered("identify")) == 4


def test_entries_sns_failed_transiently_are_retried_until_published(api: Api, deployment: Deployment) -> None:
    failed_once: set[str] = set()

    def fail_every_first_attempt(params: dict[str, Any], **kwargs: Any) -> None:
        entries = params["PublishBatchRequestEntries"]
        params["PublishBatchRequestEntries"] = [entry for entry in entries if entry["Id"] in failed_once]
        failed_once.update(entry["Id"] for entry in entries)

    # moto answers the entries it was sent; those removed count as not acknowledged.
    with hooked(sns_clients(), "before-parameter-build.sns.PublishBatch", fail_every_first_attempt):
        response = api.post(batch(*[identify(f"m-{n}") for n in range(15)]), path="/v1/batch")
    assert answer_of(response)["accepted"] == 15
    assert sorted(item.event["messageId"] for item in deployment.delivered("identify")) == sorted(
        f"m-{n}" for n in range(15)
    )


def test_a_batch_sns_keeps_throttling_is_a_503_so_the_client_retries_it(api: Api, deployment: Deployment) -> None:
    with sns_publish_faults(*[THROTTLED] * 20, operation="PublishBatch"):
        response = api.post(batch(identify("m-1"), identify("m-2")), path="/v1/batch")
    assert response.status_code == 503
    assert answer_of(response)["message"] == (
        "0 of 2 events are published; 2 not published: SNS is unavailable (Throttling); retry later"
    )
    assert response.headers["Retry-After"] == "5"
    assert deployment.delivered_anywhere() == []


def test_a_batch_sns_refuses_is_a_500(api: Api, deployment: Deployment) -> None:
    with sns_publish_faults(TOPIC_NOT_FOUND, operation="PublishBatch"):
        response = api.post(batch(identify("m-1"), identify("m-2")), path="/v1/batch")
    assert response.status_code == 500
    assert answer_of(response)["message"] == "0 of 2 events are published; 2 refused by SNS (NotFound)"
