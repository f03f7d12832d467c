"""The process's DynamoDB client: the API-key table and the deduplication table.

Every read and write here sits in front of an answer Segment waits about 5
seconds for, so one attempt is bounded by short socket timeouts and botocore
retries nothing: callers retry within their request's deadline
(`chalicelib.deadline`), which botocore's defaults (60 s per socket, several
retries) would outlast many times over.
"""

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from chalicelib.process_cache import per_process

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Deduplicating a batch claims its events concurrently: one connection per thread.
CONCURRENT_CALLS = 16
# A connection in the region takes milliseconds, and DynamoDB answers a write in a few more.
CONNECT_TIMEOUT_SECONDS = 0.25
READ_TIMEOUT_SECONDS = 0.5


@per_process
def dynamodb_client() -> "DynamoDBClient":
    """One client per process, reused across invocations; one attempt per call, at most 0.75 s."""
    return boto3.client(
        "dynamodb",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1},
            max_pool_connections=CONCURRENT_CALLS,
        ),
    )
