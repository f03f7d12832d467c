"""Publishing to SNS within Segment's patience.

Segment gives up on a request after about 5 seconds and then retries it, so a
publish has to end, one way or the other, well before that: each attempt is
bounded by short socket timeouts, retries of transient failures (throttling,
5xx, resets, timeouts) back off with jitter, and no attempt starts that could
outlast the deadline. What is left after that is a 503, which Segment retries.
"""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from chalicelib.errors import PublishFailed, PublishUnavailable
from chalicelib.messages import Message

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# Segment waits ~5 s; this leaves a second for API Gateway, Lambda and our own work.
DEADLINE_SECONDS = 4.0
MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_SECONDS = 0.5
READ_TIMEOUT_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 0.05

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


@dataclass(frozen=True)
class Published:
    """SNS's id for the message, how many attempts it took, and how long, retries included."""

    sns_message_id: str
    attempts: int
    seconds: float


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
        backoff = FIRST_BACKOFF_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._client.publish(**_publish_params(message))
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "Unknown")
                if not _is_transient(error):
                    raise PublishFailed(f"SNS refused the message ({code})") from error
                failure = code
            except (BotoConnectionError, HTTPClientError) as error:
                failure = type(error).__name__
            except BotoCoreError as error:
                raise PublishFailed(f"the message could not be sent to SNS ({type(error).__name__})") from error
            else:
                return Published(
                    sns_message_id=response["MessageId"], attempts=attempt, seconds=self._clock() - started
                )
            pause = random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)
            if attempt == MAX_ATTEMPTS or self._clock() + pause + self._attempt_seconds > deadline:
                break
            self._sleep(pause)
            backoff *= 2
        raise PublishUnavailable(f"SNS is unavailable ({failure} after {attempt} attempts); retry later")


def _is_transient(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in _TRANSIENT_CODES or status == 429 or status >= 500


def _publish_params(message: Message) -> dict[str, Any]:
    params: dict[str, Any] = {
        "TopicArn": message.topic_arn,
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
        ),
    )


def get_publisher() -> SnsPublisher:
    """The publisher over the process's SNS client."""
    return SnsPublisher(sns_client())
