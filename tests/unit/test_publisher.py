"""SnsPublisher against botocore's Stubber: exact parameters, the retry policy and the deadline."""

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.stub import Stubber

from chalicelib.deadline import MAX_ATTEMPTS, Deadline
from chalicelib.messages import Message
from chalicelib.patience import patient_with
from chalicelib.publisher import Report, Sending, Sent, SnsPublisher

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
PUBLISHED = Sending(Sent.PUBLISHED)


class FakeTime:
    """A clock that only moves when the publisher sleeps, or when a test says a call was slow."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def deadline(self, seconds: float = 4.0) -> Deadline:
        return Deadline(self.now + seconds, self.clock)


@pytest.fixture
def client() -> Any:
    return boto3.client("sns", region_name="us-east-1", config=Config(connect_timeout=0.5, read_timeout=1.0))


def publish(client: Any, time: FakeTime, *messages: Message, deadline: float = 4.0) -> Report:
    publisher = SnsPublisher(patient_with(client), clock=time.clock, sleep=time.sleep)
    return publisher.publish(messages, time.deadline(deadline))


def test_one_message_is_sent_with_publish_its_topic_body_and_string_attributes(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response("publish", {"MessageId": "sns-1"}, EXPECTED)
        report = publish(client, FakeTime(), MESSAGE)
        stub.assert_no_pending_responses()
    assert (report.sendings, report.attempts) == ([PUBLISHED], 1)


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
        assert publish(client, FakeTime(), fifo).sendings == [PUBLISHED]


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
        report = publish(client, time, MESSAGE)
    assert (report.sendings, report.attempts) == ([PUBLISHED], 3)
    first, second = time.sleeps
    assert 0.025 <= first <= 0.05 and 0.05 <= second <= 0.1
    assert report.seconds == first + second


@pytest.mark.parametrize(
    ("code", "status"), [("NotFound", 404), ("AuthorizationError", 403), ("InvalidParameter", 400)]
)
def test_refusals_are_not_retried(client: Any, code: str, status: int) -> None:
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code=code, http_status_code=status)
        report = publish(client, FakeTime(), MESSAGE)
        stub.assert_no_pending_responses()
    assert (report.sendings, report.attempts) == ([Sending(Sent.REFUSED, code)], 1)


def test_retries_stop_after_the_attempt_limit(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(MAX_ATTEMPTS):
            stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        report = publish(client, FakeTime(), MESSAGE)
        stub.assert_no_pending_responses()
    assert (report.sendings, report.attempts) == ([Sending(Sent.UNSENT, "Throttling")], MAX_ATTEMPTS)


def test_no_attempt_starts_that_could_outlast_the_deadline(client: Any) -> None:
    # GIVEN 2.4 s of the budget are left, and one attempt may take 1.5 s (its connect and read timeouts)
    time = FakeTime()
    with Stubber(client) as stub:
        stub.add_client_error("publish", service_error_code="Throttling", http_status_code=400)
        stub.add_response("publish", {"MessageId": "never"}, EXPECTED)
        # WHEN the first attempt fails after 1 s
        slow: Any = client.meta.events
        slow.register("before-parameter-build.sns.Publish", lambda **kwargs: setattr(time, "now", time.now + 1.0))
        report = publish(client, time, MESSAGE, deadline=2.4)
    # THEN a second attempt, which could end past the deadline, is not made
    assert (report.sendings, report.attempts) == ([Sending(Sent.UNSENT, "Throttling")], 1)
    assert time.sleeps == []


def test_nothing_is_sent_when_no_attempt_fits_before_the_deadline(client: Any) -> None:
    with Stubber(client) as stub:
        report = publish(client, FakeTime(), MESSAGE, deadline=1.4)
        stub.assert_no_pending_responses()
    assert (report.sendings, report.attempts) == ([Sending(Sent.LATE)], 0)


@pytest.mark.parametrize("error", [ReadTimeoutError, ConnectionClosedError])
def test_a_lost_answer_is_not_retried_on_a_standard_topic_but_is_on_a_fifo_topic(client: Any, error: Any) -> None:
    fifo = Message(TOPIC + ".fifo", "{}", {}, "m-1", group_id="g", deduplication_id="d")
    lost = error(endpoint_url="https://sns.us-east-1.amazonaws.com")
    with Stubber(client) as stub:
        # The Stubber answers instead of SNS; the hook stands for the answer lost on its way back.
        stub.add_response("publish", {"MessageId": "sns-1"})
        stub.add_response("publish", {"MessageId": "sns-2"})
        stub.add_response("publish", {"MessageId": "sns-3"})
        hooks: Any = client.meta.events
        answers = iter([lost, lost, None])

        def lose(**kwargs: Any) -> None:
            failure = next(answers)
            if failure is not None:
                raise failure

        hooks.register("after-call.sns.Publish", lose)
        standard = publish(client, FakeTime(), MESSAGE)
        retried = publish(client, FakeTime(), fifo)
    assert (standard.sendings, standard.attempts) == ([Sending(Sent.UNKNOWN, error.__name__)], 1)
    assert (retried.sendings, retried.attempts) == ([PUBLISHED], 2)


def batch_of(count: int) -> list[Message]:
    return [Message(TOPIC, "{}", {"type": "identify"}, f"m-{n}") for n in range(count)]


def entry(n: int) -> dict[str, Any]:
    return {
        "Id": str(n),
        "Message": "{}",
        "MessageAttributes": {"type": {"DataType": "String", "StringValue": "identify"}},
    }


def test_a_batch_retries_only_the_entries_sns_failed_transiently(client: Any) -> None:
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
            "publish",
            {"MessageId": "s1"},
            {"TopicArn": TOPIC, "Message": "{}", "MessageAttributes": entry(1)["MessageAttributes"]},
        )
        report = publish(client, FakeTime(), *batch_of(3))
        stub.assert_no_pending_responses()
    assert report.sendings == [PUBLISHED, PUBLISHED, Sending(Sent.REFUSED, "InvalidParameter")]
    assert report.attempts == 2


def test_a_batch_reports_what_stays_unacknowledged_at_the_deadline(client: Any) -> None:
    with Stubber(client) as stub:
        for _ in range(MAX_ATTEMPTS):
            stub.add_client_error("publish_batch", service_error_code="Throttling", http_status_code=400)
        report = publish(client, FakeTime(), *batch_of(2))
    assert report.sendings == [Sending(Sent.UNSENT, "Throttling")] * 2


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
        report = publish(client, FakeTime(), *fifo)
        stub.assert_no_pending_responses()
    assert report.sendings == [PUBLISHED] * 25


def test_a_fifo_message_group_stops_at_its_first_call_not_published_so_that_order_holds(client: Any) -> None:
    fifo = [Message(TOPIC + ".fifo", "{}", {}, f"m-{n}", group_id="g", deduplication_id=f"d{n}") for n in range(15)]
    with Stubber(client) as stub:
        stub.add_client_error("publish_batch", service_error_code="NotFound", http_status_code=404)
        report = publish(client, FakeTime(), *fifo)
        stub.assert_no_pending_responses()
    assert report.sendings[:10] == [Sending(Sent.REFUSED, "NotFound")] * 10
    assert report.sendings[10:] == [Sending(Sent.HELD_BACK)] * 5


def test_a_fifo_topic_holds_back_only_the_message_groups_with_a_message_not_published(client: Any) -> None:
    groups = ["g"] * 5 + ["h"] * 10 + ["g"] * 5
    fifo = [
        Message(TOPIC + ".fifo", "{}", {"type": "identify"}, f"m-{n}", group_id=group, deduplication_id=f"d{n}")
        for n, group in enumerate(groups)
    ]

    def fifo_entry(n: int) -> dict[str, Any]:
        return {**entry(n), "MessageGroupId": groups[n], "MessageDeduplicationId": f"d{n}"}

    with Stubber(client) as stub:
        # SNS refuses group g's entries of the first call, and takes group h's
        stub.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": str(n), "MessageId": f"s{n}"} for n in range(5, 10)],
                "Failed": [{"Id": str(n), "Code": "InvalidParameter", "SenderFault": True} for n in range(5)],
            },
            {"TopicArn": TOPIC + ".fifo", "PublishBatchRequestEntries": [fifo_entry(n) for n in range(10)]},
        )
        # The second call carries group h's entries only: group g's wait behind its refused ones
        stub.add_response(
            "publish_batch",
            {"Successful": [{"Id": str(n), "MessageId": f"s{n}"} for n in range(10, 15)], "Failed": []},
            {"TopicArn": TOPIC + ".fifo", "PublishBatchRequestEntries": [fifo_entry(n) for n in range(10, 15)]},
        )
        report = publish(client, FakeTime(), *fifo)
        stub.assert_no_pending_responses()
    assert report.sendings == (
        [Sending(Sent.REFUSED, "InvalidParameter")] * 5 + [PUBLISHED] * 10 + [Sending(Sent.HELD_BACK)] * 5
    )
