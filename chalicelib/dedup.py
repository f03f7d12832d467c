"""Effectively-once publishing: each (account, messageId) is published at most once.

Segment delivers at least once and retries for up to 4 hours, so a delivery
that timed out arrives again; published twice, it would send a second welcome
email. With `DEDUP_TABLE` set, every event is claimed in that DynamoDB table
(docs/contract.md §6) before it is published:

1. claim: a conditional write of an `in_progress` record that expires after
   the claim window (`DEDUP_CLAIM_SECONDS`), refused if the (account,
   messageId) already has a live record;
2. publish;
3. settle: a published event's record becomes `completed` and lives for
   `RETENTION_SECONDS`, longer than Segment's retry horizon; an event SNS
   did not take is released, so that Segment's retry is not mistaken for a
   duplicate; an event whose publish has an unknown outcome keeps its claim.

A delivery that finds `completed` is a duplicate (answered 200, not
published); one that finds `in_progress` is answered 503 with the claim's time
left: another request is publishing the event, or may have published it
without hearing back. When the claim expires, the event is published again:
at most once per unknown outcome, plus once. Records expire by their
`expiration` attribute, also DynamoDB's TTL attribute, which deletes them in
time; until it does, an expired record counts as absent.
"""

import contextlib
import hashlib
import math
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.aws_failures import failure_of, retry_unless_permanent
from chalicelib.deadline import Deadline, OutOfTime, Retryable, attempt_seconds, retrying, run_concurrently
from chalicelib.dynamodb import CONCURRENT_CALLS, dynamodb_client

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Longer than Segment's 4 hours of retries, with a day to spare for replays.
RETENTION_SECONDS = 48 * 3600
IN_PROGRESS = "in_progress"
COMPLETED = "completed"
# BatchWriteItem's and BatchGetItem's limits.
_WRITES_PER_CALL = 25
_READS_PER_CALL = 100
# TransactWriteItems' limit, and so the most events claimed at once. Claimed one
# PutItem each, the claims of a large batch alone would take the CPU of a small
# Lambda function past the deadline, and its retries would never get further.
CLAIMS_PER_CALL = 100
_CLAIM_CONDITION = "attribute_not_exists(id) OR expiration < :now OR claimed_by = :token"


class ClaimState(Enum):
    """What claiming an event found."""

    NEW = "new"  # claimed: this request publishes the event
    DUPLICATE = "duplicate"  # published already: acknowledge without publishing
    IN_PROGRESS = "in_progress"  # another delivery holds the claim
    UNREACHABLE = "unreachable"  # the table failed on every attempt, or refused: do not publish
    LATE = "late"  # no attempt could end before the deadline: do not publish


@dataclass(frozen=True)
class Claim:
    """A claim's state; `seconds_left` on a claim held by another delivery, `reason` on an unreachable table."""

    state: ClaimState
    seconds_left: int = 0
    reason: str = ""


_NEW = Claim(ClaimState.NEW)
# The second sending of one event in one request: the first stands for both.
_REPEATED = Claim(ClaimState.DUPLICATE)
_LATE = Claim(ClaimState.LATE)


class DedupTable:
    """The `DEDUP_TABLE`: one record per (account, messageId) claimed, published or being published.

    Each instance serves one request: its claims carry a token of their own,
    so that a claim retried after a lost answer recognizes the record its
    first attempt wrote instead of taking it for another delivery's.
    """

    claims_per_call = CLAIMS_PER_CALL

    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        claim_seconds: int,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self.claim_seconds = claim_seconds
        self._clock = clock
        self._sleep = sleep
        self._token = uuid.uuid4().hex
        self._claimed: set[str] = set()
        # Time kept for settling the claims: one attempt.
        self.settle_seconds = attempt_seconds(client)

    def key(self, account_id: str, message_id: str) -> str:
        """The record an event is claimed by."""
        return record_key(account_id, message_id)

    def claim(self, keys: Sequence[str], deadline: Deadline) -> list[Claim]:
        """Up to `CLAIMS_PER_CALL` keys' claims, by position, in one call; those not made in time are unreachable.

        A key this request has claimed before, in this call or an earlier one,
        is a duplicate: one event sent twice in a batch is published once.
        """
        fresh = [key for key in dict.fromkeys(keys) if key not in self._claimed]
        self._claimed.update(fresh)
        first = self._claim(fresh, deadline) if fresh else {}
        return [first.pop(key, _REPEATED) for key in keys]

    def recorded(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Claim]:
        """The claims already recorded for `keys`: published, or held by another delivery; read a hundred at a time.

        Claiming an event that is already published costs as much as claiming
        a new one, so a batch Segment sends again after a partial 503 reads
        first, and claims only what is left: each retry gets further. Keys the
        table could not tell about in time are left out, to be claimed.
        """
        unique = list(dict.fromkeys(keys))
        calls = [unique[start : start + _READS_PER_CALL] for start in range(0, len(unique), _READS_PER_CALL)]
        found = run_concurrently(lambda call: self._read(call, deadline), calls, deadline, _pool(), _overdue_read)
        return {key: claim for claims in found for key, claim in claims.items()}

    def _read(self, keys: list[str], deadline: Deadline) -> dict[str, Claim]:
        """One BatchGetItem call's worth of records, its unprocessed keys asked again; live records only."""
        pending: Any = {self._table: {"Keys": [{"id": {"S": key}} for key in keys], "ConsistentRead": True}}
        found: dict[str, Claim] = {}

        def read() -> None:
            nonlocal pending
            try:
                answer = self._client.batch_get_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as error:
                retry_unless_permanent(error)
                raise
            now = self._clock()
            for record in answer.get("Responses", {}).get(self._table, []):
                if float(record.get("expiration", {}).get("N", "0")) >= now:
                    found[record["id"]["S"]] = self._held(record)
            pending = answer.get("UnprocessedKeys")
            if pending:
                raise Retryable("UnprocessedKeys")

        # What could not be read in time is claimed instead, which tells the same.
        with contextlib.suppress(OutOfTime, ClientError, BotoCoreError):
            retrying(read, deadline, self.settle_seconds, self._sleep)
        return found

    def settle(self, completed: Sequence[str], released: Sequence[str], deadline: Deadline) -> int:
        """Complete the published events' claims and release the unpublished ones; how many were not written.

        Best effort: an unwritten completion stays `in_progress` until the
        claim window ends, and then counts, like an unknown outcome, as
        perhaps published; an unwritten release only delays a retry.
        """
        expiration = int(self._clock()) + RETENTION_SECONDS
        writes = [{"PutRequest": {"Item": _record(key, COMPLETED, expiration)}} for key in completed]
        writes += [{"DeleteRequest": {"Key": {"id": {"S": key}}}} for key in released]
        calls = [writes[start : start + _WRITES_PER_CALL] for start in range(0, len(writes), _WRITES_PER_CALL)]
        unwritten = run_concurrently(lambda call: self._write(call, deadline), calls, deadline, _pool(), _overdue_write)
        return sum(unwritten)

    def _claim(self, keys: list[str], deadline: Deadline) -> dict[str, Claim]:
        """Claim `keys` in one call (PutItem for one, TransactWriteItems for more), retried within the deadline.

        A transaction is all or nothing: when some claims are held elsewhere, it
        is refused with the holders' records, and the others are sent again. A
        claim whose answer was lost is sent again too: the claim token makes a
        second write of our own record succeed.
        """
        now = int(self._clock())
        values = {":now": {"N": str(now)}, ":token": {"S": self._token}}
        claims: dict[str, Claim] = {}
        pending = list(keys)

        def puts() -> list[Any]:
            return [
                {
                    "TableName": self._table,
                    "Item": {**_record(key, IN_PROGRESS, now + self.claim_seconds), "claimed_by": {"S": self._token}},
                    "ConditionExpression": _CLAIM_CONDITION,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
                for key in pending
            ]

        def write() -> None:
            nonlocal pending
            try:
                if len(pending) == 1:
                    self._client.put_item(**puts()[0])
                else:
                    self._client.transact_write_items(TransactItems=[{"Put": put} for put in puts()])
            except ClientError as error:
                held = _held_by_others(error, pending)
                if held is None:
                    retry_unless_permanent(error)
                    raise
                claims.update((key, self._held(existing)) for key, existing in held.items())
                pending = [key for key in pending if key not in held]
                if pending:
                    raise Retryable("TransactionCanceled") from error
            except BotoCoreError as error:
                retry_unless_permanent(error)
                raise
            claims.update((key, _NEW) for key in pending)
            pending = []

        try:
            retrying(write, deadline, self.settle_seconds, self._sleep)
        except OutOfTime as out_of_time:
            late = Claim(ClaimState.UNREACHABLE, reason=out_of_time.reason) if out_of_time.attempts else _LATE
            claims.update((key, late) for key in pending)
        except (ClientError, BotoCoreError) as error:
            reason = failure_of(error)[1]
            claims.update((key, Claim(ClaimState.UNREACHABLE, reason=reason)) for key in pending)
        return claims

    def _held(self, existing: Any) -> Claim:
        """The claim another delivery holds, as the refused write returned it."""
        if existing.get("status", {}).get("S") == COMPLETED:
            return Claim(ClaimState.DUPLICATE)
        expiration = float(existing.get("expiration", {}).get("N", "0"))
        return Claim(ClaimState.IN_PROGRESS, seconds_left=max(1, math.ceil(expiration - self._clock())))

    def _write(self, requests: list[dict[str, Any]], deadline: Deadline) -> int:
        """One BatchWriteItem call's worth of writes, its unprocessed items sent again; how many were left."""
        pending: list[Any] = requests

        def write() -> None:
            nonlocal pending
            try:
                answer = self._client.batch_write_item(RequestItems={self._table: pending})
            except (ClientError, BotoCoreError) as error:
                # Completions and deletions can be repeated safely, whatever became of the lost attempt.
                retry_unless_permanent(error)
                raise
            pending = answer.get("UnprocessedItems", {}).get(self._table, [])
            if pending:
                raise Retryable("UnprocessedItems")

        try:
            retrying(write, deadline, self.settle_seconds, self._sleep)
        except (OutOfTime, ClientError, BotoCoreError):
            return len(pending)
        return 0


def _held_by_others(error: ClientError, keys: list[str]) -> dict[str, Any] | None:
    """The records of the claims another delivery holds, from a refused claim; None for any other error."""
    code = error.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return {keys[0]: error.response.get("Item", {})}
    if code != "TransactionCanceledException":
        return None
    reasons: Any = error.response.get("CancellationReasons", [])
    return {
        key: reason.get("Item", {})
        for key, reason in zip(keys, reasons, strict=False)
        if reason.get("Code") == "ConditionalCheckFailed"
    }


def _overdue_write(call: list[dict[str, Any]], started: bool) -> int:
    return len(call)


def _overdue_read(call: list[str], started: bool) -> dict[str, Claim]:
    return {}


class AtLeastOnce:
    """No dedup table: every delivery is published, a redelivery too."""

    # Nothing to claim, so nothing to do a hundred at a time: a batch is published in one round.
    claims_per_call = sys.maxsize
    settle_seconds = 0.0
    claim_seconds = 0  # nothing holds a redelivery off

    def recorded(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Claim]:
        return {}

    def key(self, account_id: str, message_id: str) -> str:
        """Nothing is recorded: any key that tells events apart will do."""
        return message_id

    def claim(self, keys: Sequence[str], deadline: Deadline) -> list[Claim]:
        return [_NEW] * len(keys)

    def settle(self, completed: Sequence[str], released: Sequence[str], deadline: Deadline) -> int:
        """Nothing was claimed, so nothing is left to write."""
        return 0


def record_key(account_id: str, message_id: str) -> str:
    """The record's id: the account, and a digest that bounds any messageId to 64 characters."""
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{account_id}/{digest}"


def _record(key: str, status: str, expiration: int) -> dict[str, Any]:
    return {"id": {"S": key}, "status": {"S": status}, "expiration": {"N": str(expiration)}}


def deduplication() -> DedupTable | AtLeastOnce:
    """The deployment's `DEDUP_TABLE`, for one request; without it, delivery is at-least-once."""
    table_name = config.dedup_table()
    if table_name is None:
        return AtLeastOnce()
    return DedupTable(dynamodb_client(), table_name, config.dedup_claim_seconds())


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for a batch's concurrent claims and writes, kept for the life of the process."""
    return ThreadPoolExecutor(max_workers=CONCURRENT_CALLS, thread_name_prefix="dedup")
