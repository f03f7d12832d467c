"""The process's DynamoDB clients: the API-key table and the deduplication table.

Every read and write here sits in front of an answer Segment waits about 5
seconds for, so one attempt is bounded by short socket timeouts and botocore
retries nothing: callers retry within their request's deadline
(`chalicelib.deadline`), which botocore's defaults (60 s per socket, several
retries) would outlast many times over. The timeouts grow while DynamoDB is
slower than them (`chalicelib.patience`): one client per read timeout, each
built the first time it is needed.
"""

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chalicelib.patience import Patience
from chalicelib.process_cache import per_process

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Deduplicating a batch claims its events concurrently: one connection per thread.
CONCURRENT_CALLS = 16
# A connection in the region takes milliseconds, and DynamoDB answers a write in a few more.
CONNECT_TIMEOUT_SECONDS = 0.25
READ_TIMEOUT_SECONDS = 0.5
# Waited for in turn while DynamoDB is slower than the one before, half as long again each time (a call just
# past one level's wait is answered at the next); the first only near the deadline.
READ_TIMEOUTS_SECONDS = (0.25, READ_TIMEOUT_SECONDS, 0.75, 1.1, 1.5)
USUAL_LEVEL = READ_TIMEOUTS_SECONDS.index(READ_TIMEOUT_SECONDS)


def dynamodb_client(level: int = USUAL_LEVEL) -> "DynamoDBClient":
    """The client of a patience level: the usual one unless said, one attempt per call, at most 0.75 s."""
    return _dynamodb_client(level)


@per_process
def _dynamodb_client(level: int) -> "DynamoDBClient":
    """The client of a patience level, one per process, reused across invocations; one attempt per call."""
    return boto3.client(
        "dynamodb",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUTS_SECONDS[level],
            retries={"total_max_attempts": 1},
            # The claims' threads, and the settling of earlier rounds meanwhile: a connection each, kept.
            max_pool_connections=2 * CONCURRENT_CALLS,
        ),
    )


@per_process
def dynamodb_patience() -> Patience:
    """How long this process waits for DynamoDB's writes and strongly consistent reads now."""
    return _patience()


@per_process
def dynamodb_read_back_patience() -> Patience:
    """How long this process waits for a batch's read-back now (eventually consistent reads), apart from the
    writes: read-backs of thousands of keys that answer slowly must not leave no room to claim what they found."""
    return _patience()


def _patience() -> Patience:
    attempts = [CONNECT_TIMEOUT_SECONDS + read for read in READ_TIMEOUTS_SECONDS]
    return Patience(_dynamodb_client, attempts, USUAL_LEVEL, answer_waits=READ_TIMEOUTS_SECONDS)


def dynamodb_clients() -> "list[DynamoDBClient]":
    """Every level's client, built now: for whatever must see all of this process's DynamoDB calls."""
    return [dynamodb_client(level) for level in range(len(READ_TIMEOUTS_SECONDS))]
