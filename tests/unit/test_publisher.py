"""SnsPublisher against botocore's Stubber: exact Publish parameters and the retry policy."""

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from chalicelib.errors import PublishFailed, PublishUnavailable
from chalicelib.messages import Message
from chalicelib.publisher import MAX_ATTEMPTS, SnsPublisher

TOPIC = "arn:aws:sns:us-east-1:123456789012:segment-identify"
MESSAGE = Message(
    topic_arn=TOPIC, body='{"event":{}}', attributes={"type": "identify", "source": "segment"}, message_id="m-1"
)
EXPECTED = {
    "TopicArn": TOPIC,
    "Message": '{"event":{}}',
    "MessageAttributes": {
        "type": {"DataType": "String", "StringValue": "identify"},
        "source": {"DataType": "String", "StringValue": "segment"},
    },
}


class FakeTime:
    """A clock that only moves when the publisher sleeps, or when a call is slow."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client() -> Any:
    return boto3.client("sns", region_name="us-east-1", config=Config(connect_timeout=0.5, read_timeout=1.0))


def publisher(client: Any, time: FakeTime, deadline: float = 4.0) -> SnsPublisher:
    return SnsPublisher(client, deadline_seconds=deadline, clock=time.clock, sleep=time.sleep)


def test_publish_sends_the_topic_body_and_string_attributes(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("publish", {"MessageId": "sns-1"}, EXPECTED)
        published = publisher(client, FakeTime()).publish(MESSAGE)
        stub.assert_no_pending_responses()
    assert (published.sns_message_id, published.attempts) == ("sns-1", 1)


def test_fifo_messages_carry_their_group_and_deduplication_ids(client: Any) -> None:
    fifo = Message(TOPIC + ".fifo", "{}", {}, "m-1", group_id="g", deduplication_id="d")
    expected = {
        "TopicArn": TOPIC + ".fifo",
        "Message": "{}",
        "MessageAttributes": {},
        "MessageGroupId": "g",
        "MessageDeduplicationId": "d",
    }
    with Stubber(client) as stub:
        stub.add_response("publish", {"MessageId": "sns-1"}, expected)
        publisher(client, FakeTime()).publish(fifo)


@pytest.mark.parametrize(
    ("code", "status"),
    [("Throttling", 400), ("KMSThrottling", 400), ("InternalError", 500), ("Whatever", 503), ("SlowDown", 429)],
)
def test_transient_errors_are_retried_with_growing_jittered_pauses(client: Any, code: str, status: int) -> None:
    time = FakeTime()
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code=code, http_status_code=status)
        stub.add_client_error("publish", service_error_code=code, http_status_code=status)
        stub.add_response("publish", {"MessageId": "sns-1"}, EXPECTED)
        published = publisher(client, time).publish(MESSAGE)
    assert published.attempts == 3
    first, second = time.sleeps
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1
    assert published.seconds == first + second
    assert published.seconds == first + second


@pytest.mark.parametrize(
    ("code", "status"), [("NotFound", 404), ("AuthorizationError", 403), ("InvalidParameter", 400)]
)
def test_refusals_are_not_retried(client: Any, code: str, status: int) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code=code, http_status_code=status)
        with pytest.raises(PublishFailed, match=code):
            publisher(client, FakeTime()).publish(MESSAGE)


def test_retries_stop_after_the_attempt_limit(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(MAX_ATTEMPTS):
            stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        with pytest.raises(PublishUnavailable, match=f"Throttling after {MAX_ATTEMPTS} attempts"):
            publisher(client, FakeTime()).publish(MESSAGE)
        stub.assert_no_pending_responses()


def test_no_attempt_starts_that_could_outlast_the_deadline(client: Any) -> None:
    # GIVEN the first attempt fails after 2.6 s of the 4 s budget
    time = FakeTime()
    readings = iter([0.0, 2.6])
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        stub.add_response("publish", {"MessageId": "never"}, EXPECTED)
        slow = SnsPublisher(client, deadline_seconds=4.0, clock=lambda: next(readings), sleep=time.sleep)
        # THEN a second attempt, which may take 1.5 s, would end past the deadline and is not made
        with pytest.raises(PublishUnavailable, match="after 1 attempts"):
            slow.publish(MESSAGE)
    assert time.sleeps == []


def test_attempts_continue_while_they_fit_before_the_deadline(client: Any) -> None:
    time = FakeTime()
    # Readings: the start, before the retry, when SNS answered.
    readings = iter([0.0, 2.4, 2.6])
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        stub.add_response("publish", {"MessageId": "sns-1"}, EXPECTED)
        patient = SnsPublisher(client, deadline_seconds=4.0, clock=lambda: next(readings), sleep=time.sleep)
        published = patient.publish(MESSAGE)
    assert (published.attempts, published.seconds) == (2, 2.6)


def batch_of(count: int) -> list[Message]:
    return [Message(TOPIC, "{}", {"type": "identify"}, f"m-{n}") for n in range(count)]


def entry(n: int) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Message": "{}",
        "MessageAttributes": {"type": {"DataType": "String", "StringValue": "identify"}},
    }


def test_publish_batch_retries_only_the_entries_sns_failed_transiently(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "s0"}],
                "Failed": [
                    {"Id": "1", "Code": "InternalFailure", "SenderFault": False},
                    {"Id": "2", "Code": "InvalidParameter", "SenderFault": True},
                ],
            },
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": [entry(0), entry(1), entry(2)]},
        )
        stub.add_response(
            "publish_batch",
            {"Successful": [{"Id": "1", "MessageId": "s1"}], "Failed": []},
            {"TopicArn": TOPIC, "PublishBatchRequestEntries": [entry(1)]},
        )
        outcome = publisher(client, FakeTime()).publish_batch(batch_of(3))
        stub.assert_no_pending_responses()
    assert outcome.unavailable == {}
    assert outcome.refused == {2: "InvalidParameter"}
    assert outcome.attempts == 2


def test_publish_batch_reports_what_stays_unacknowledged_at_the_deadline(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(MAX_ATTEMPTS):
            stub.add_client_error("publish_batch", service_error_code="Throttling", http_status_code=400)
        outcome = publisher(client, FakeTime()).publish_batch(batch_of(2))
    assert set(outcome.unavailable) == {0, 1}
    assert "Throttling" in outcome.unavailable[0]


def test_a_fifo_topics_batch_is_sent_ten_entries_per_call_in_order(client: Any) -> None:
    fifo = [
        Message(TOPIC + ".fifo", "{}", {"type": "identify"}, f"m-{n}", group_id="g", deduplication_id=f"d{n}")
        for n in range(25)
    ]

    def fifo_entry(n: int) -> dict[str, Any]:
        return {**entry(n), "MessageGroupId": "g", "MessageDeduplicationId": f"d{n}"}

    with Stubber(client) as stub:
        for first in (0, 10, 20):
            ids = range(first, min(first + 10, 25))
            stub.add_response(
                "publish_batch",
                {"Successful": [{"Id": str(n), "MessageId": f"s{n}"} for n in ids], "Failed": []},
                {"TopicArn": TOPIC + ".fifo", "PublishBatchRequestEntries": [fifo_entry(n) for n in ids]},
            )
        outcome = publisher(client, FakeTime()).publish_batch(fifo)
        stub.assert_no_pending_responses()
    assert (outcome.unavailable, outcome.refused) == ({}, {})
