"""Effectively-once publishing: each (account, messageId) is published at most once.

Segment delivers at least once and retries for up to 4 hours, so a delivery
that timed out arrives again; published twice, it would send a second welcome
email. With `DEDUP_TABLE` set, every event is claimed in that DynamoDB table
(docs/contract.md §6) before it is published:

1. claim: a conditional write of an `in_progress` record that expires in a
   few seconds, refused if the (account, messageId) already has a live record;
2. publish;
3. complete: the record becomes `completed` and lives for `RETENTION_SECONDS`,
   longer than Segment's retry horizon; or release, if the publish failed, so
   that Segment's retry is not mistaken for a duplicate.

A delivery whose record is `completed` is a duplicate (answered 200, not
published); one whose record is still `in_progress` is being handled by a
concurrent request (answered 503, retried later). A record left `in_progress`
by a process that died expires and can be claimed again. Records expire by
their `expiration` attribute, also DynamoDB's TTL attribute, which deletes
them in time; until it does, an expired record counts as absent.
"""

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.dynamodb import CONCURRENT_CALLS, dynamodb_client
from chalicelib.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Longer than Segment's 4 hours of retries, with a day to spare for replays.
RETENTION_SECONDS = 48 * 3600
# Longer than a request can take (the Lambda function's timeout), shorter than Segment's first retry.
IN_PROGRESS_SECONDS = 30
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# BatchWriteItem's limit, and how often its unprocessed items are sent again.
_WRITES_PER_CALL = 25
_WRITE_ROUNDS = 3


@dataclass
class BatchClaim:
    """A batch's claims by position: the events this request publishes, and how many it does not."""

    new: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    duplicates: int = 0
    busy: int = 0  # being published by another request, or the table could not tell


class Claim(Enum):
    """What a claim found."""

    NEW = "new"  # this request publishes the event
    DUPLICATE = "duplicate"  # published already: acknowledge without publishing
    IN_PROGRESS = "in_progress"  # another request is publishing it right now


class InProgress(Unavailable):
    """A concurrent delivery of the same messageId has not finished: retry later."""


class DedupTable:
    """The `DEDUP_TABLE`: one record per (account, messageId) claimed, published or being published."""

    def __init__(self, client: "DynamoDBClient", table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    @contextmanager
    def exclusively(self, account_id: str, message_id: str) -> Iterator[bool]:
        """Claim one event around its publish: True to publish it, False for a duplicate.

        Leaving the block normally completes the claim; an exception releases it.
        """
        key = record_key(account_id, message_id)
        claim = self.claim(key)
        if claim is Claim.IN_PROGRESS:
            raise InProgress("a delivery of this messageId is still in progress; retry later")
        if claim is Claim.DUPLICATE:
            yield False
            return
        try:
            yield True
        except BaseException:
            self.release([key])
            raise
        self.complete([key])

    def claim(self, key: str) -> Claim:
        """Write an `in_progress` record unless a live one exists; `Unavailable` if the table cannot say."""
        now = int(self._clock())
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_record(key, IN_PROGRESS, now + IN_PROGRESS_SECONDS),
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(now)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _unavailable(error) from error
            existing: Any = error.response.get("Item", {})
            return Claim.DUPLICATE if existing.get("status", {}).get("S") == COMPLETED else Claim.IN_PROGRESS
        except BotoCoreError as error:
            raise _unavailable(error) from error
        return Claim.NEW

    def claim_batch(self, account_id: str, message_ids: Sequence[str]) -> "BatchClaim":
        """Claim a batch's events, several at a time; a messageId repeated in the batch is claimed once."""
        keys = [record_key(account_id, message_id) for message_id in message_ids]
        first_of = {key: position for position, key in reversed(list(enumerate(keys)))}

        def claim_one(key: str) -> Claim | None:
            try:
                return self.claim(key)
            except Unavailable:
                return None  # the table could not tell: as good as in progress

        unique = list(first_of)
        claims = dict(zip(unique, (_pool().map if len(unique) > 1 else map)(claim_one, unique), strict=True))
        batch = BatchClaim(keys=keys)
        for position, key in enumerate(keys):
            claim = claims[key] if first_of[key] == position else Claim.DUPLICATE
            if claim is Claim.NEW:
                batch.new.append(position)
            elif claim is Claim.DUPLICATE:
                batch.duplicates += 1
            else:
                batch.busy += 1
        return batch

    def settle(self, batch: "BatchClaim", unpublished: set[int]) -> None:
        """Complete the claims of the published events and release those of the others."""
        published = [batch.keys[position] for position in batch.new if position not in unpublished]
        self.complete(published)
        self.release([batch.keys[position] for position in unpublished])

    def complete(self, keys: Sequence[str]) -> None:
        """Mark published events `completed` for the retention window (best effort: SNS has them)."""
        expiration = int(self._clock()) + RETENTION_SECONDS
        self._write([{"PutRequest": {"Item": _record(key, COMPLETED, expiration)}} for key in keys])

    def release(self, keys: Sequence[str]) -> None:
        """Forget claims whose publish failed, so that a retry publishes them (best effort: they expire)."""
        self._write([{"DeleteRequest": {"Key": {"id": {"S": key}}}} for key in keys])

    def _write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem in chunks, sending unprocessed items again a few times, never raising.

        What is left after that is a record that stays `in_progress` until it
        expires: a duplicate delivery in those seconds is answered 503, later
        ones are published again; nothing is lost.
        """
        for start in range(0, len(requests), _WRITES_PER_CALL):
            pending: Any = {self._table: requests[start : start + _WRITES_PER_CALL]}
            for _ in range(_WRITE_ROUNDS):
                try:
                    pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                except (ClientError, BotoCoreError):
                    continue
                if not pending:
                    break


def record_key(account_id: str, message_id: str) -> str:
    """The record's id: the account, and a digest that bounds any messageId to 64 characters."""
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{account_id}/{digest}"


def _record(key: str, status: str, expiration: int) -> dict[str, Any]:
    return {"id": {"S": key}, "status": {"S": status}, "expiration": {"N": str(expiration)}}


def _unavailable(error: Exception) -> Unavailable:
    return Unavailable(f"the deduplication table is unavailable ({type(error).__name__}); retry later")


class AtLeastOnce:
    """No dedup table: every delivery is published, a redelivery too."""

    @contextmanager
    def exclusively(self, account_id: str, message_id: str) -> Iterator[bool]:
        yield True

    def claim_batch(self, account_id: str, message_ids: Sequence[str]) -> BatchClaim:
        return BatchClaim(new=list(range(len(message_ids))))

    def settle(self, batch: BatchClaim, unpublished: set[int]) -> None:
        """Nothing was claimed."""


def deduplication() -> DedupTable | AtLeastOnce:
    """The deployment's `DEDUP_TABLE`; without it, delivery is at-least-once."""
    table_name = config.dedup_table()
    return AtLeastOnce() if table_name is None else DedupTable(dynamodb_client(), table_name)


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for a batch's concurrent claims, kept for the life of the process."""
    return ThreadPoolExecutor(max_workers=CONCURRENT_CALLS, thread_name_prefix="dedup")
