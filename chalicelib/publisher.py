"""Publishing to SNS within the request's deadline, never twice because of a retry.

Messages are sent in calls of up to ten messages or 256 KiB (PublishBatch;
Publish for a call of one), several calls at a time. Each attempt is bounded
by short socket timeouts, and a failure that left the messages unsent
(throttling, a 5xx, no connection) is retried with jittered backoff while
the deadline allows. A call whose answer was lost after the request went
out (a read timeout, a connection closed) may have been published: on a
standard topic it is not retried, and its messages are reported as unknown;
a FIFO topic drops a repeated deduplication id, so there it is retried.

What becomes of each message is reported, never raised: the caller decides
what the request answers.
"""

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aws_failures import Failure, failure_of
from chalicelib.deadline import Deadline, OutOfTime, Retryable, retrying, run_concurrently
from chalicelib.messages import MAX_MESSAGE_BYTES, Message
from chalicelib.patience import Patience
from chalicelib.process_cache import per_process

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

CONNECT_TIMEOUT_SECONDS = 0.25
READ_TIMEOUT_SECONDS = 1.0
# Waited for in turn while SNS is slower than the one before (`chalicelib.patience`), the first two only
# near the deadline: an answer that comes after the read timeout leaves its messages' outcome unknown.
READ_TIMEOUTS_SECONDS = (0.25, 0.5, READ_TIMEOUT_SECONDS, 1.5)
USUAL_LEVEL = READ_TIMEOUTS_SECONDS.index(READ_TIMEOUT_SECONDS)
# SNS's limits for one PublishBatch call.
BATCH_ENTRIES = 10
BATCH_BYTES = MAX_MESSAGE_BYTES
# Calls in flight at once for one request (and HTTP connections kept): threads that mostly wait on
# SNS, so that a batch's publishes take one or two round trips however slow each is.
CONCURRENT_CALLS = 32


class Sent(Enum):
    """What became of one message."""

    PUBLISHED = "published"  # SNS acknowledged it
    REFUSED = "refused"  # SNS refused it for a reason that needs an operator
    UNSENT = "unsent"  # not published: SNS failed on every attempt
    UNKNOWN = "unknown"  # sent, but no answer came back: it may have been published
    HELD_BACK = "held_back"  # not sent: an earlier message of its FIFO message group was not published
    LATE = "late"  # not sent: no attempt could end before the deadline


@dataclass(frozen=True)
class Sending:
    """One message's fate, and its reason: an SNS error code or a botocore error class."""

    state: Sent
    reason: str = ""


@dataclass(frozen=True)
class Report:
    """Each message's fate by its position; the most attempts one call took; how long it all took."""

    sendings: list[Sending]
    attempts: int
    seconds: float


@dataclass(frozen=True)
class _CallReport:
    sendings: dict[int, Sending]
    attempts: int


class _Stop(Exception):
    """No more attempts for this call: its pending messages end as `sending` says."""

    def __init__(self, sending: Sending) -> None:
        super().__init__(sending.reason)
        self.sending = sending


class SnsPublisher:
    """Publishes `Message`s with bounded, jittered retries of failures that left them unsent."""

    def __init__(
        self,
        patience: Patience,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._patience = patience
        self._clock = clock
        self._sleep = sleep

    def seconds_needed(self) -> float:
        """What a round's publish can be expected to take now: one call."""
        return self._patience.expected_seconds()

    def publish(self, messages: Sequence[Message], deadline: Deadline) -> Report:
        """Publish every message by the deadline, or say why not; each FIFO message group in the order given."""
        started = self._clock()
        if len(messages) == 1:
            # One event: nothing to group or to hand to another thread.
            reports = [self._publish_call([0], messages, deadline)]
        else:
            tasks = _tasks(messages)
            reports = run_concurrently(
                lambda task: self._publish_in_order(task, messages, deadline), tasks, deadline, _pool(), _overdue
            )
        sendings = [Sending(Sent.LATE)] * len(messages)
        for report in reports:
            for position, sending in report.sendings.items():
                sendings[position] = sending
        attempts = max((report.attempts for report in reports), default=0)
        return Report(sendings, attempts, self._clock() - started)

    def _publish_in_order(self, calls: list[list[int]], messages: Sequence[Message], deadline: Deadline) -> _CallReport:
        """Publish a FIFO topic's `calls` one after the other, each message group up to its first message not
        published: its later ones are held back, to keep its order, while the other groups go on."""
        sendings: dict[int, Sending] = {}
        attempts = 0
        stopped: set[str | None] = set()
        for call in calls:
            held = {position for position in call if messages[position].group_id in stopped}
            sendings.update((position, Sending(Sent.HELD_BACK)) for position in held)
            sent = [position for position in call if position not in held]
            if not sent:
                continue
            report = self._publish_call(sent, messages, deadline)
            sendings.update(report.sendings)
            attempts = max(attempts, report.attempts)
            stopped.update(
                messages[position].group_id
                for position, sending in report.sendings.items()
                if sending.state is not Sent.PUBLISHED
            )
        return _CallReport(sendings, attempts)

    def _publish_call(self, call: list[int], messages: Sequence[Message], deadline: Deadline) -> _CallReport:
        """One call's messages, retrying what SNS did not take while that is safe and time allows."""
        pending = {str(position): messages[position] for position in call}
        fifo = messages[call[0]].topic_arn.endswith(".fifo")
        sendings: dict[int, Sending] = {}
        attempts = 0
        maybe_sent = ""

        def attempt(client: "SNSClient") -> None:
            nonlocal attempts, maybe_sent
            attempts += 1
            try:
                successful, failed = _send(client, messages[call[0]].topic_arn, pending)
            except (ClientError, BotoCoreError) as error:
                failure, reason = failure_of(error)
                if failure is Failure.PERMANENT:
                    raise _Stop(Sending(Sent.REFUSED, reason)) from error
                if failure is Failure.UNKNOWN:
                    maybe_sent = reason
                    if not fifo:
                        raise _Stop(Sending(Sent.UNKNOWN, reason)) from error
                raise Retryable(reason) from error
            for entry_id in successful:
                sendings[int(entry_id)] = Sending(Sent.PUBLISHED)
                pending.pop(entry_id, None)
            for entry_id, (code, sender_fault) in failed.items():
                if sender_fault:
                    sendings[int(entry_id)] = Sending(Sent.REFUSED, code)
                    pending.pop(entry_id, None)
            if pending:
                codes = [code for entry_id, (code, _) in failed.items() if entry_id in pending]
                raise Retryable(codes[0] if codes else "NotAcknowledged")

        try:
            retrying(attempt, deadline, self._patience, self._sleep)
        except OutOfTime as out_of_time:
            sendings.update((int(entry_id), _out_of_time(out_of_time, maybe_sent)) for entry_id in pending)
        except _Stop as stop:
            sendings.update((int(entry_id), stop.sending) for entry_id in pending)
        return _CallReport(sendings, attempts)


def _send(
    client: "SNSClient", topic_arn: str, pending: dict[str, Message]
) -> tuple[list[str], dict[str, tuple[str, bool]]]:
    """One Publish (for one message) or PublishBatch call: the ids SNS took, and those it failed with why."""
    if len(pending) == 1:
        [(entry_id, message)] = pending.items()
        client.publish(TopicArn=topic_arn, **_message_params(message))
        return [entry_id], {}
    entries: Any = [{"Id": entry_id, **_message_params(message)} for entry_id, message in pending.items()]
    answer = client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
    failed = {
        failure["Id"]: (failure.get("Code", "Unknown"), bool(failure.get("SenderFault")))
        for failure in answer.get("Failed", [])
    }
    return [success["Id"] for success in answer.get("Successful", [])], failed


def _out_of_time(out_of_time: OutOfTime, maybe_sent: str) -> Sending:
    """The fate of messages still pending when no attempt fits before the deadline."""
    if maybe_sent:
        return Sending(Sent.UNKNOWN, maybe_sent)  # a FIFO message whose answer was lost
    if out_of_time.attempts:
        return Sending(Sent.UNSENT, out_of_time.reason)
    return Sending(Sent.LATE)


def _overdue(calls: list[list[int]], started: bool) -> _CallReport:
    """Calls not done by the deadline: still running, they may be published; never started, they were late."""
    sending = Sending(Sent.UNKNOWN, "no answer by the deadline") if started else Sending(Sent.LATE)
    return _CallReport({position: sending for call in calls for position in call}, 0)


def _tasks(messages: Sequence[Message]) -> list[list[list[int]]]:
    """Positions grouped into calls per topic, and calls into tasks that may run at once.

    Calls to a standard topic are independent tasks; a FIFO topic's calls form
    one task, so that each message group is published in the order it was sent.
    """
    by_topic: dict[str, list[int]] = {}
    for position, message in enumerate(messages):
        by_topic.setdefault(message.topic_arn, []).append(position)
    tasks: list[list[list[int]]] = []
    for topic, positions in by_topic.items():
        calls = _calls(positions, messages)
        if topic.endswith(".fifo"):
            tasks.append(calls)
        else:
            tasks.extend([call] for call in calls)
    return tasks


def _calls(positions: list[int], messages: Sequence[Message]) -> list[list[int]]:
    calls: list[list[int]] = []
    size = 0
    for position in positions:
        message_size = messages[position].size
        if not calls or len(calls[-1]) == BATCH_ENTRIES or size + message_size > BATCH_BYTES:
            calls.append([])
            size = 0
        calls[-1].append(position)
        size += message_size
    return calls


def _message_params(message: Message) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Message": message.body,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()
        },
    }
    if message.group_id is not None:
        params["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        params["MessageDeduplicationId"] = message.deduplication_id
    return params


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for concurrent calls, kept for the life of the process."""
    return ThreadPoolExecutor(max_workers=CONCURRENT_CALLS, thread_name_prefix="publish")


def sns_client(level: int = USUAL_LEVEL) -> "SNSClient":
    """The client of a patience level: the usual one unless said."""
    return _sns_client(level)


@per_process
def _sns_client(level: int) -> "SNSClient":
    """The client of a patience level, one per process, reused across invocations (creating one costs ~100 ms).

    botocore's own retries are off: `SnsPublisher` retries within the request's deadline.
    """
    return boto3.client(
        "sns",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUTS_SECONDS[level],
            retries={"total_max_attempts": 1},
            max_pool_connections=CONCURRENT_CALLS,
        ),
    )


def sns_clients() -> "list[SNSClient]":
    """Every level's client, built now: for whatever must see all of this process's SNS calls."""
    return [sns_client(level) for level in range(len(READ_TIMEOUTS_SECONDS))]


@per_process
def sns_patience() -> Patience:
    """How long this process waits for SNS now."""
    return Patience(_sns_client, [CONNECT_TIMEOUT_SECONDS + read for read in READ_TIMEOUTS_SECONDS], USUAL_LEVEL)


def get_publisher() -> SnsPublisher:
    """The publisher over the process's SNS clients."""
    return SnsPublisher(sns_patience())
