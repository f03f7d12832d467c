"""What a failed AWS call means for what happens next: try again, stop, or assume it may have worked.

Slow is the common failure, not down. A call that timed out while reading
the answer, or whose connection closed after the request went out, may have
done its work: SNS may have taken the message. Such an outcome is unknown,
not a failure, and retrying it blindly publishes the event twice. A call that
never reached AWS (no connection), or that AWS refused with a throttling or
5xx error, did nothing and may be tried again. Anything else (a missing
topic, a denied action) needs an operator.
"""

from enum import Enum

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as NotConnected

from chalicelib.deadline import Retryable

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "KMSThrottling",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)


class Failure(Enum):
    """What a failed call did."""

    TRANSIENT = "transient"  # nothing was done; a later attempt may succeed
    UNKNOWN = "unknown"  # the request may have been carried out; its answer was lost
    PERMANENT = "permanent"  # refused for a reason no retry fixes


def failure_of(error: BotoCoreError | ClientError) -> tuple[Failure, str]:
    """What `error` means, and a reason for answers and logs: an AWS error code or a botocore class name."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        transient = code in _TRANSIENT_CODES or status == 429 or status >= 500
        return (Failure.TRANSIENT if transient else Failure.PERMANENT), code
    reason = type(error).__name__
    if isinstance(error, NotConnected):
        return Failure.TRANSIENT, reason
    if isinstance(error, HTTPClientError):
        return Failure.UNKNOWN, reason
    return Failure.PERMANENT, reason


def retry_unless_permanent(error: BotoCoreError | ClientError) -> None:
    """For a call that can safely be made again: `Retryable` unless `error` is a refusal, and then return.

    A read, or a write of the same record, can follow a lost answer as well as
    a failure, so only what no retry fixes stops the retries; the caller raises it.
    """
    failure, reason = failure_of(error)
    if failure is not Failure.PERMANENT:
        raise Retryable(reason) from error
