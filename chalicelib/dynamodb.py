"""The process's DynamoDB client: the API-key table and the deduplication table.

Its timeouts and retries are bounded, because every read and write here sits
in front of an answer Segment waits about 5 seconds for; botocore's defaults
(60 s per socket, several retries) would outlast that many times over.
"""

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Deduplicating a batch claims its events concurrently: one connection per thread.
CONCURRENT_CALLS = 16


@cache
def dynamodb_client() -> "DynamoDBClient":
    """One client per process, reused across invocations; at most ~3 s for a call, retry included."""
    return boto3.client(
        "dynamodb",
        config=Config(
            connect_timeout=0.5,
            read_timeout=0.5,
            retries={"mode": "standard", "total_max_attempts": 2},
            max_pool_connections=CONCURRENT_CALLS,
        ),
    )
