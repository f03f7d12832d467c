"""Publishing to SNS within Segment's patience.

Segment gives up on a request after about 5 seconds and then retries it, so a
publish has to end, one way or the other, well before that: each attempt is
bounded by short socket timeouts, retries of transient failures (throttling,
5xx, resets, timeouts) back off with jitter, and no attempt starts that could
outlast the deadline. What is left after that is a 503, which Segment retries.

A batch is published with PublishBatch, ten messages or 256 KiB per call,
several calls at a time; only the entries SNS did not take are retried.
"""

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.errors import PublishFailed, PublishUnavailable
from chalicelib.messages import MAX_MESSAGE_BYTES, Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# Segment waits ~5 s; this leaves a second for API Gateway, Lambda and our own work.
DEADLINE_SECONDS = 4.0
MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 0.05
# SNS's limits for one PublishBatch call.
BATCH_ENTRIES = 10
BATCH_BYTES = MAX_MESSAGE_BYTES
# PublishBatch calls in flight at once for one request (and HTTP connections kept).
CONCURRENT_CALLS = 8

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)

T = TypeVar("T")


@dataclass(frozen=True)
class Published:
    """SNS's id for the message, how many attempts it took, and how long, retries included."""

    sns_message_id: str
    attempts: int
    seconds: float


@dataclass
class BatchPublished:
    """What became of each message of a batch, by its position in the batch.

    Positions in neither map were acknowledged by SNS. `unavailable` ones met
    transient failures until the deadline (a retry may publish them);
    `refused` ones were rejected by SNS for a reason that needs an operator.
    """

    unavailable: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    attempts: int = 0
    seconds: float = 0.0

    def merge(self, other: "BatchPublished") -> None:
        self.unavailable.update(other.unavailable)
        self.refused.update(other.refused)
        self.attempts = max(self.attempts, other.attempts)


class _Transient(Exception):
    """A failure a later attempt may not meet."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnsPublisher:
    """Publishes `Message`s with bounded, jittered retries of transient failures."""

    def __init__(
        self,
        client: "SNSClient",
        deadline_seconds: float = DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._deadline_seconds = deadline_seconds
        self._clock = clock
        self._sleep = sleep
        timeouts: Any = client.meta.config
        # The longest one attempt can take before botocore gives up on the socket.
        self._attempt_seconds = float(timeouts.connect_timeout) + float(timeouts.read_timeout)

    def publish(self, message: Message) -> Published:
        """Publish once SNS acknowledges; `PublishUnavailable` (503) or `PublishFailed` (500) otherwise."""
        started = self._clock()
        deadline = started + self._deadline_seconds
        params = _publish_params(message)
        response, attempts = self._until_deadline(lambda: self._call(lambda: self._client.publish(**params)), deadline)
        return Published(sns_message_id=response["MessageId"], attempts=attempts, seconds=self._clock() - started)

    def publish_batch(self, messages: Sequence[Message]) -> BatchPublished:
        """Publish every message with PublishBatch; what SNS did not take is reported, never raised."""
        started = self._clock()
        deadline = started + self._deadline_seconds
        tasks = _tasks(messages)
        # One task (up to ten events of one type) is spared the hop to another thread.
        results = map if len(tasks) <= 1 else _pool().map
        outcome = BatchPublished()
        for result in results(lambda task: self._publish_chunks(task, messages, deadline), tasks):
            outcome.merge(result)
        outcome.seconds = self._clock() - started
        return outcome

    def _publish_chunks(self, chunks: list[list[int]], messages: Sequence[Message], deadline: float) -> BatchPublished:
        """Publish `chunks` one after the other (in order, as FIFO topics need)."""
        outcome = BatchPublished()
        for chunk in chunks:
            outcome.merge(self._publish_chunk(chunk, messages, deadline))
        return outcome

    def _publish_chunk(self, chunk: list[int], messages: Sequence[Message], deadline: float) -> BatchPublished:
        """One PublishBatch call for `chunk`, retrying the entries SNS failed for a transient reason."""
        pending = {str(position): messages[position] for position in chunk}
        topic_arn = messages[chunk[0]].topic_arn
        outcome = BatchPublished()

        def attempt() -> None:
            outcome.attempts += 1
            entries: list[Any] = [_batch_entry(entry_id, message) for entry_id, message in pending.items()]
            response = self._call(
                lambda: self._client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
            )
            for success in response.get("Successful", []):
                pending.pop(success["Id"], None)
            failures = []
            for failure in response.get("Failed", []):
                if failure.get("SenderFault"):
                    outcome.refused[int(failure["Id"])] = failure.get("Code", "Unknown")
                    pending.pop(failure["Id"], None)
                else:
                    failures.append(failure.get("Code", "Unknown"))
            if pending:
                raise _Transient(failures[0] if failures else "NotAcknowledged")

        try:
            self._until_deadline(attempt, deadline)
        except PublishUnavailable as error:
            outcome.unavailable.update({int(entry_id): error.message for entry_id in pending})
        except PublishFailed as error:
            outcome.refused.update({int(entry_id): error.message for entry_id in pending})
        return outcome

    def _until_deadline(self, attempt: Callable[[], T], deadline: float) -> tuple[T, int]:
        """`attempt`'s result and the attempts it took, retrying `_Transient` failures while time allows."""
        backoff = FIRST_BACKOFF_SECONDS
        for attempt_number in range(1, MAX_ATTEMPTS + 1):
            try:
                return attempt(), attempt_number
            except _Transient as transient:
                failure = transient.reason
            pause = random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)
            if attempt_number == MAX_ATTEMPTS or self._clock() + pause + self._attempt_seconds > deadline:
                break
            self._sleep(pause)
            backoff *= 2
        raise PublishUnavailable(f"SNS is unavailable ({failure} after {attempt_number} attempts); retry later")

    def _call(self, send: Callable[[], T]) -> T:
        """One SNS call: `_Transient` for what a retry may fix, `PublishFailed` for what it cannot."""
        try:
            return send()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if _is_transient(error):
                raise _Transient(code) from error
            raise PublishFailed(f"SNS refused the message ({code})") from error
        except (BotoConnectionError, HTTPClientError) as error:
            raise _Transient(type(error).__name__) from error
        except BotoCoreError as error:
            raise PublishFailed(f"the message could not be sent to SNS ({type(error).__name__})") from error


def _is_transient(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _TRANSIENT_CODES or status == 429 or status >= 500


def _tasks(messages: Sequence[Message]) -> list[list[list[int]]]:
    """Positions grouped into PublishBatch-sized chunks per topic, and chunks into tasks that may run at once.

    Chunks of a standard topic are independent tasks; a FIFO topic's chunks form
    one task, so that they are published in the order they were sent.
    """
    by_topic: dict[str, list[int]] = {}
    for position, message in enumerate(messages):
        by_topic.setdefault(message.topic_arn, []).append(position)
    tasks: list[list[list[int]]] = []
    for topic, positions in by_topic.items():
        chunks = _chunks(positions, messages)
        if topic.endswith(".fifo"):
            tasks.append(chunks)
        else:
            tasks.extend([chunk] for chunk in chunks)
    return tasks


def _chunks(positions: list[int], messages: Sequence[Message]) -> list[list[int]]:
    chunks: list[list[int]] = []
    size = 0
    for position in positions:
        message_size = messages[position].size
        if not chunks or len(chunks[-1]) == BATCH_ENTRIES or size + message_size > BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(position)
        size += message_size
    return chunks


def _publish_params(message: Message) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TopicArn": message.topic_arn,
        "Message": message.body,
        "MessageAttributes": _attributes(message),
    }
    if message.group_id is not None:
        params["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        params["MessageDeduplicationId"] = message.deduplication_id
    return params


def _batch_entry(entry_id: str, message: Message) -> dict[str, Any]:
    params = _publish_params(message)
    del params["TopicArn"]
    return {"Id": entry_id, **params}


def _attributes(message: Message) -> dict[str, dict[str, str]]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()}


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for concurrent PublishBatch calls, kept for the life of the process."""
    return ThreadPoolExecutor(max_workers=CONCURRENT_CALLS, thread_name_prefix="publish")


@cache
def sns_client() -> "SNSClient":
    """One client per process, reused across invocations (creating one costs ~100 ms).

    botocore's own retries are off: `SnsPublisher` retries within a deadline.
    """
    return boto3.client(
        "sns",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1},
            max_pool_connections=CONCURRENT_CALLS,
        ),
    )


def get_publisher() -> SnsPublisher:
    """The publisher over the process's SNS client."""
    return SnsPublisher(sns_client())
