"""Effectively-once publishing: each (account, messageId) is published at most once, for one write per event.

Segment delivers at least once and retries for up to 4 hours, so a delivery
that timed out arrives again; published twice, it would send a second welcome
email. With `DEDUP_TABLE` set, events are claimed in that DynamoDB table
(docs/contract.md §6) before they are published, a round of up to a hundred
at a time, and each round is settled by one receipt:

1. claim: one conditional write per event of a record naming the round that
   holds it (`claimed_by`), the event's place in that round (`at`), and until
   when the claim holds other deliveries off (`until`, the claim window,
   `DEDUP_CLAIM_SECONDS`). It is refused if the (account, messageId) has a
   live record, and the refusal returns that record. A record lives
   `RETENTION_SECONDS`, longer than Segment's retries: once its round is
   settled, it is what recognizes a redelivery.
2. publish;
3. settle: the round's receipt, `round/<token>`, names the places of the
   events SNS took (`published`) and of those whose publish has an unknown
   outcome (`unknown`). Every other event of the round was not published, and
   may be claimed again at once. One small write settles a hundred events.

A delivery whose claim is refused judges the record it found by the holder's
receipt: published there, the event is a duplicate (200); not published, it
is claimed again at once; unknown, or no receipt yet, it is held (503 with the
claim's time left) until the claim window ends, then claimed again. So an
event is published at most once per unknown outcome or unwritten receipt, plus
once. Nothing is ever taken for published without a receipt that says so.

Records expire by their `expiration` attribute, also DynamoDB's TTL attribute,
which deletes them in time (for free); until it does, an expired record counts
as absent. A batch Segment sends again reads its records back (eventually
consistent reads, a hundred a call) once its first round finds events already
claimed, and claims only what is left: each retry gets further.
"""

import contextlib
import hashlib
import math
import sys
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.aws_failures import failure_of, retry_unless_permanent
from chalicelib.deadline import Deadline, OutOfTime, Retryable, retrying, run_concurrently
from chalicelib.dynamodb import CONCURRENT_CALLS, dynamodb_patience, dynamodb_read_back_patience
from chalicelib.patience import Patience

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Longer than Segment's 4 hours of retries, with a day to spare for replays.
RETENTION_SECONDS = 48 * 3600
# The most events claimed before they are published, what one receipt settles: a batch's first round is
# small, for a batch sent again finds out from it (and reads the rest back) before claiming much; the
# later ones are one wave of concurrent INSERT calls, as many as a slow table answers at once. A
# receipt of 400 places is still under 1 KB: one write unit.
FIRST_ROUND_SIZE = 100
ROUND_SIZE = CONCURRENT_CALLS * 25  # 25 statements to a BatchExecuteStatement
# BatchGetItem's limit.
_READS_PER_CALL = 100
# A claim record's attributes: which round holds it, its place there, until when, how long it is kept.
_ATTRIBUTES = ("id", "claimed_by", "at", "until", "expiration")
# PartiQL's INSERT is refused (DuplicateItem) for a key that has any record: a claim for a new event.
_INSERT = 'INSERT INTO "{table}" VALUE {{' + ", ".join(f"'{name}': ?" for name in _ATTRIBUTES) + "}}"
# A claim taken over from the round that holds it: rewritten as ours, on the condition that it is still that
# round's. One write, where deleting and inserting it again would be two calls in turn.
_TAKE_OVER = (
    'UPDATE "{table}" '
    + " ".join(f'SET "{name}" = ?' for name in _ATTRIBUTES[1:])
    + ' WHERE "id" = ? AND "claimed_by" = ?'
)
# A claim released, or an expired record cleared before its key is claimed again: deleted on the condition
# that it is still the named round's, or expired.
_DELETE = 'DELETE FROM "{table}" WHERE "id" = ? AND "{attribute}" {operator} ?'
# BatchExecuteStatement's limit.
_STATEMENTS_PER_CALL = 25
_DUPLICATE_ITEM = "DuplicateItem"
# A statement failing with one of these did nothing, and may be sent again.
_TRANSIENT_STATEMENT_ERRORS = frozenset(
    {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "InternalServerError",
     "TransactionConflict"}
)  # fmt: skip
_CLAIM_CONDITION = "attribute_not_exists(id) OR expiration < :now OR claimed_by = :token"
_TAKE_OVER_CONDITION = f"{_CLAIM_CONDITION} OR claimed_by = :previous"
# Records written before rounds had receipts say what they are; they expire within RETENTION_SECONDS.
_STATUS_COMPLETED = "completed"
_STATUS_IN_PROGRESS = "in_progress"


class ClaimState(Enum):
    """What claiming an event found."""

    NEW = "new"  # claimed: this request publishes the event
    DUPLICATE = "duplicate"  # published already: acknowledge without publishing
    IN_PROGRESS = "in_progress"  # another delivery holds the claim
    CLAIMABLE = "claimable"  # held by a round that did not publish it, or whose window is over: claim it again
    UNREACHABLE = "unreachable"  # the table failed on every attempt, or refused: do not publish
    LATE = "late"  # no attempt could end before the deadline: do not publish


@dataclass(frozen=True)
class Claim:
    """A claim's state; `seconds_left` on one held elsewhere, `reason` on an unreachable table, `holder` on a
    claimable one (the round whose claim is taken over)."""

    state: ClaimState
    seconds_left: int = 0
    reason: str = ""
    holder: str = ""


@dataclass(frozen=True)
class Round:
    """One round's claims by position, its token, the place in its receipt of each event it tried to claim,
    the keys it holds, and whether its claims found records of other deliveries in the way (taken over or not):
    the batch is being sent again."""

    token: str
    claims: list[Claim]
    places: dict[str, int] = field(default_factory=dict)
    held: frozenset[str] = frozenset()
    found: bool = False


@dataclass(frozen=True)
class Receipt:
    """A settled round: the places of the events it published, and of those whose outcome is unknown."""

    published: frozenset[int]
    unknown: frozenset[int]


_NEW = Claim(ClaimState.NEW)
# The second sending of one event in one request: the first stands for both.
_REPEATED = Claim(ClaimState.DUPLICATE)
_LATE = Claim(ClaimState.LATE)
_DUPLICATE = Claim(ClaimState.DUPLICATE)


class DedupTable:
    """The `DEDUP_TABLE`: one record per (account, messageId) claimed, and one receipt per settled round.

    Each instance serves one request: its rounds' tokens are its own, so that
    a claim retried after a lost answer recognizes the record its first
    attempt wrote instead of taking it for another delivery's.
    """

    round_sizes = (FIRST_ROUND_SIZE, ROUND_SIZE)

    def __init__(
        self,
        patience: Patience,
        read_back_patience: Patience,
        table_name: str,
        claim_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._patience = patience
        self._read_back_patience = read_back_patience
        self._table = table_name
        self.claim_seconds = claim_seconds
        self._clock = clock
        self._sleep = sleep
        self._request = uuid.uuid4().hex
        self._rounds = 0
        self._claimed: set[str] = set()

    def claim_seconds_needed(self) -> float:
        """What a round's claims can be expected to take now: one call."""
        return self._patience.expected_seconds()

    def settle_seconds(self) -> float:
        """The time kept for settling: one attempt, at the usual patience, or the next level while DynamoDB is slow."""
        return self._patience.attempt_seconds[min(self._patience.level(), self._patience.usual + 1)]

    def key(self, account_id: str, message_id: str) -> str:
        """The record an event is claimed by."""
        return record_key(account_id, message_id)

    def claim(self, keys: Sequence[str], deadline: Deadline, holders: Mapping[str, str]) -> Round:
        """Claim a round of `keys`; their claims by position.

        A round's keys are inserted 25 to a call (PartiQL's INSERT, refused for
        a key that has any record); those refused are read back and judged.
        `holders` names, for keys read back as claimable earlier, the round
        whose claim is taken over; such keys are taken over in the same calls
        (an UPDATE on the condition that the claim is still that round's), and
        any judged claimable here in a second wave. One event alone is claimed
        with one conditional write. A key this request has
        claimed before, in this round or an earlier one, is a duplicate: one
        event sent twice in a batch is published once.
        """
        fresh = [key for key in dict.fromkeys(keys) if key not in self._claimed]
        self._claimed.update(fresh)
        token = f"{self._request}.{self._rounds}"
        self._rounds += 1
        places = {key: place for place, key in enumerate(fresh)}
        if len(fresh) == 1:
            claims, found = self._claimed_alone(fresh[0], token, holders.get(fresh[0], ""), deadline), False
        else:
            claims, found = self._claimed_together(fresh, token, places, holders, deadline)
        held = frozenset(key for key, claim in claims.items() if claim.state is ClaimState.NEW)
        return Round(token, [claims.pop(key, _REPEATED) for key in keys], places, held, found)

    def recorded(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Claim]:
        """What the table already holds for `keys`, judged: duplicates, claims held elsewhere, claimable ones.

        Claiming an event that is already published costs a write, and as much
        time as claiming a new one, so a batch Segment sends again reads first
        (eventually consistent: a record missed here is refused by its claim)
        and claims only what is left. Keys the table could not tell about in
        time are left out, to be claimed; a record found whose round's receipt
        could not be read is neither claimed nor published (unreachable).
        """
        unique = list(dict.fromkeys(keys))
        calls = [unique[start : start + _READS_PER_CALL] for start in range(0, len(unique), _READS_PER_CALL)]
        found = run_concurrently(lambda call: self._read(call, deadline), calls, deadline, _pool(), _overdue_read)
        records = {key: record for records in found for key, record in records.items()}
        receipts = self._receipts(records.values(), deadline)
        return {key: self._judged(record, receipts) for key, record in records.items()}

    def settle(self, round_: Round, published: Collection[str], unknown: Collection[str], deadline: Deadline) -> int:
        """Write the round's receipt; the published events it leaves unrecorded if it cannot be written.

        An unrecorded round's claims hold redeliveries off until the claim
        window ends, and are then claimed again: a published event then
        counts, like an unknown outcome, as perhaps published. Then, with the
        time left, the claims of events the round did not publish are deleted
        (each on the condition that it is still this round's, so a claim
        another delivery took over meanwhile stays), so that Segment's retry
        claims them as new; one left is released by the receipt all the same.
        """
        if not round_.held:
            return 0  # nothing claimed: no claim of this round's for a receipt to speak of
        unrecorded = self._write_receipt(round_, published, unknown, deadline)
        released = round_.held.difference(published, unknown)
        if released:
            self._execute(self._deletes(dict.fromkeys(released, round_.token)), deadline)
        return unrecorded

    def _write_receipt(
        self, round_: Round, published: Collection[str], unknown: Collection[str], deadline: Deadline
    ) -> int:
        """The round's receipt, retried within the deadline; the published events left unrecorded."""
        item: dict[str, Any] = {
            "id": {"S": receipt_key(round_.token)},
            "expiration": {"N": str(int(self._clock()) + RETENTION_SECONDS)},
        }
        for name, keys in (("published", published), ("unknown", unknown)):
            if keys:
                item[name] = {"NS": [str(round_.places[key]) for key in keys]}

        def write(client: "DynamoDBClient") -> None:
            try:
                client.put_item(TableName=self._table, Item=item)
            except (ClientError, BotoCoreError) as error:
                # A receipt can be written again, whatever became of a lost attempt.
                retry_unless_permanent(error)
                raise

        try:
            retrying(write, deadline, self._patience, self._sleep)
        except (OutOfTime, ClientError, BotoCoreError):
            return len(published)
        return 0

    def _claimed_alone(self, key: str, token: str, holder: str, deadline: Deadline) -> dict[str, Claim]:
        """One event's claim: a conditional write, taking over a claimable record found in the way at once."""
        claim = self._claim_one(key, token, 0, holder or None, deadline)
        if isinstance(claim, dict):
            receipts = self._receipts([claim], deadline)
            claim = _UNREADABLE if receipts is None else self._judge(claim, receipts)
            if claim.state is ClaimState.CLAIMABLE:
                taken = self._claim_one(key, token, 0, claim.holder or None, deadline)
                # Refused again: another delivery took it over first, and holds it now.
                claim = Claim(ClaimState.IN_PROGRESS, seconds_left=1) if isinstance(taken, dict) else taken
        return {key: claim}

    def _claimed_together(
        self, keys: list[str], token: str, places: Mapping[str, int], holders: Mapping[str, str], deadline: Deadline
    ) -> tuple[dict[str, Claim], bool]:
        """A round's claims: new keys inserted and claims read back as claimable taken over, in one wave of
        calls; then the keys whose INSERT found a record in the way judged, and those claimable taken over.
        And whether any INSERT found a record in the way."""
        new = [key for key in keys if key not in holders]
        claims = self._written(new, {key: holders[key] for key in keys if key in holders}, token, places, deadline)
        found = [key for key in new if key not in claims]
        claims.update(self._found(found, token, deadline))
        claimable = {key: claims[key].holder for key in found if claims[key].state is ClaimState.CLAIMABLE}
        if claimable:
            claims.update(self._written([], claimable, token, places, deadline))
        return claims, bool(found)

    def _written(
        self, new: list[str], holders: Mapping[str, str], token: str, places: Mapping[str, int], deadline: Deadline
    ) -> dict[str, Claim]:
        """Claims made in one wave of calls: `new` keys inserted, and the claims of `holders` taken over.

        An INSERT is refused for a key with any record: live, expired, or our
        own from an attempt whose answer was lost; such keys are left out, for
        `_found` to read and judge. A claim that a round holds is taken over
        by an UPDATE on the condition that the round still holds it; an
        expired one ("" for its holder) is deleted on the condition that it
        has expired, then inserted. A take-over refused lost the race to
        another delivery, which holds the event now (or, sent again after a
        lost answer, it was ours: released by this round's receipt all the
        same).
        """
        now = int(self._clock())
        insert, take_over = _INSERT.format(table=self._table), _TAKE_OVER.format(table=self._table)
        expired = [key for key, holder in holders.items() if not holder]
        statements = {
            key: {"Statement": insert, "Parameters": self._values(key, token, places[key], now)} for key in new
        }
        for key, holder in holders.items():
            if holder:
                values = self._values(key, token, places[key], now)
                statements[key] = {"Statement": take_over, "Parameters": [*values[1:], values[0], {"S": holder}]}
        statements.update(self._deletes(dict.fromkeys(expired, "")))
        done = self._execute(statements, deadline)
        cleared = [key for key in expired if done[key] == ""]
        claims = {key: _inserted_claim(done[key]) for key in new if done[key] != _DUPLICATE_ITEM}
        claims.update((key, _taken_over_claim(done[key])) for key in holders if key not in cleared)
        if cleared:
            inserted = self._written(cleared, {}, token, places, deadline)
            claims.update((key, inserted.get(key, Claim(ClaimState.IN_PROGRESS, seconds_left=1))) for key in cleared)
        return claims

    def _deletes(self, holders: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """A DELETE per key, on the condition that its claim is still the named round's (or, for "", expired)."""
        by_holder = _DELETE.format(table=self._table, attribute="claimed_by", operator="=")
        expired = _DELETE.format(table=self._table, attribute="expiration", operator="<")
        now = {"N": str(int(self._clock()))}
        return {
            key: {"Statement": by_holder, "Parameters": [{"S": key}, {"S": holder}]}
            if holder
            else {"Statement": expired, "Parameters": [{"S": key}, now]}
            for key, holder in holders.items()
        }

    def _execute(self, statements: Mapping[str, dict[str, Any]], deadline: Deadline) -> dict[str, str | Claim]:
        """Each key's statement, 25 to a BatchExecuteStatement, concurrently; what became of each.

        "" for a statement carried out, the code of one DynamoDB refused, or
        the claim of one not carried out in time (unreachable, late).
        """
        keys = list(statements)
        calls = [keys[start : start + _STATEMENTS_PER_CALL] for start in range(0, len(keys), _STATEMENTS_PER_CALL)]
        answers = run_concurrently(
            lambda call: self._execute_call({key: statements[key] for key in call}, deadline),
            calls,
            deadline,
            _pool(),
            _overdue_statements,
        )
        return {key: outcome for answer in answers for key, outcome in answer.items()}

    def _execute_call(self, statements: Mapping[str, dict[str, Any]], deadline: Deadline) -> dict[str, str | Claim]:
        """One BatchExecuteStatement, statements that failed transiently sent again within the deadline.

        Statements whose answer was lost are sent again: an INSERT that was
        carried out comes back refused (and is read), a DELETE finds nothing
        to delete.
        """
        done: dict[str, str | Claim] = {}
        pending = list(statements)

        def execute(client: "DynamoDBClient") -> None:
            nonlocal pending
            try:
                answer = client.batch_execute_statement(Statements=[statements[key] for key in pending])  # type: ignore[misc]
            except (ClientError, BotoCoreError) as error:
                retry_unless_permanent(error)
                raise
            failed: dict[str, str] = {}
            for key, response in zip(pending, answer.get("Responses", []), strict=True):
                code = response.get("Error", {}).get("Code", "")
                if code in _TRANSIENT_STATEMENT_ERRORS:
                    failed[key] = code
                else:
                    done[key] = code
            pending = list(failed)
            if pending:
                raise Retryable(next(iter(failed.values())))

        try:
            retrying(execute, deadline, self._patience, self._sleep)
        except OutOfTime as out_of_time:
            late = Claim(ClaimState.UNREACHABLE, reason=out_of_time.reason) if out_of_time.attempts else _LATE
            done.update(dict.fromkeys(pending, late))
        except (ClientError, BotoCoreError) as error:
            done.update(dict.fromkeys(pending, Claim(ClaimState.UNREACHABLE, reason=failure_of(error)[1])))
        return done

    def _found(self, keys: list[str], token: str, deadline: Deadline) -> dict[str, Claim]:
        """The claims of keys whose INSERT found a record: read (strongly consistent) and judged by its receipt."""
        if not keys:
            return {}
        records: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), _READS_PER_CALL):
            got = self._get(keys[start : start + _READS_PER_CALL], deadline, consistent=True)
            if got is None:
                return dict.fromkeys(keys, _UNREADABLE)
            records.update(got)
        now = self._clock()
        live = {key: record for key, record in records.items() if float(record["expiration"]["N"]) >= now}
        ours = {key for key, record in live.items() if record.get("claimed_by", {}).get("S") == token}
        receipts = self._receipts([record for key, record in live.items() if key not in ours], deadline)
        claims = {key: _NEW if key in ours else self._judged(record, receipts) for key, record in live.items()}
        # Gone, or expired, since the INSERT: claimable as if new.
        claims.update((key, Claim(ClaimState.CLAIMABLE)) for key in keys if key not in live)
        return claims

    def _claim_one(
        self, key: str, token: str, place: int, previous: str | None, deadline: Deadline
    ) -> Claim | dict[str, Any]:
        """One event's conditional claim, retried within the deadline: NEW, or the record that refused it."""
        now = int(self._clock())
        item = dict(zip(_ATTRIBUTES, self._values(key, token, place, now), strict=True))
        values = {":now": {"N": str(now)}, ":token": {"S": token}}
        if previous is not None:
            values[":previous"] = {"S": previous}
        condition = _CLAIM_CONDITION if previous is None else _TAKE_OVER_CONDITION

        def write(client: "DynamoDBClient") -> Claim | dict[str, Any]:
            try:
                client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    found: dict[str, Any] = error.response.get("Item", {})  # type: ignore[assignment]
                    return found
                retry_unless_permanent(error)
                raise
            except BotoCoreError as error:
                # A claim whose answer was lost is sent again: its token makes a second write of it succeed.
                retry_unless_permanent(error)
                raise
            return _NEW

        try:
            return retrying(write, deadline, self._patience, self._sleep)[0]
        except OutOfTime as out_of_time:
            return Claim(ClaimState.UNREACHABLE, reason=out_of_time.reason) if out_of_time.attempts else _LATE
        except (ClientError, BotoCoreError) as error:
            return Claim(ClaimState.UNREACHABLE, reason=failure_of(error)[1])

    def _values(self, key: str, token: str, place: int, now: int) -> list[Any]:
        """A claim record's attribute values, in `_ATTRIBUTES`' order."""
        return [
            {"S": key},
            {"S": token},
            {"N": str(place)},
            {"N": str(now + self.claim_seconds)},
            {"N": str(now + RETENTION_SECONDS)},
        ]

    def _judged(self, record: dict[str, Any], receipts: Mapping[str, Receipt] | None) -> Claim:
        """`_judge`, or unreachable if the receipts that would tell could not be read."""
        return _UNREADABLE if receipts is None else self._judge(record, receipts)

    def _judge(self, record: dict[str, Any], receipts: Mapping[str, Receipt]) -> Claim:
        """What a record found for an event means for this delivery, by its round's receipt."""
        status = record.get("status", {}).get("S")
        if status == _STATUS_COMPLETED:
            return _DUPLICATE
        if status == _STATUS_IN_PROGRESS:
            return self._held_until(float(record.get("expiration", {}).get("N", "0")))
        holder = record.get("claimed_by", {}).get("S", "")
        place = int(record.get("at", {}).get("N", "-1"))
        receipt = receipts.get(holder)
        if receipt is not None and place in receipt.published:
            return _DUPLICATE
        until = float(record.get("until", {}).get("N", "0"))
        if receipt is not None and place not in receipt.unknown:
            return Claim(ClaimState.CLAIMABLE, holder=holder)
        if until > self._clock():
            return self._held_until(until)
        return Claim(ClaimState.CLAIMABLE, holder=holder)

    def _held_until(self, until: float) -> Claim:
        return Claim(ClaimState.IN_PROGRESS, seconds_left=max(1, math.ceil(until - self._clock())))

    def _read(self, keys: list[str], deadline: Deadline) -> dict[str, dict[str, Any]]:
        """One BatchGetItem call's worth of live records, eventually consistent, its unprocessed keys asked again."""
        found = self._get(keys, deadline, consistent=False)
        now = self._clock()
        return {
            key: record
            for key, record in (found or {}).items()
            if float(record.get("expiration", {}).get("N", "0")) >= now
        }

    def _receipts(self, records: Collection[dict[str, Any]], deadline: Deadline) -> dict[str, Receipt] | None:
        """The receipts of the rounds holding `records`, read strongly consistent; None if they cannot be read."""
        holders = list(dict.fromkeys(record["claimed_by"]["S"] for record in records if "claimed_by" in record))
        if not holders:
            return {}
        by_key = {receipt_key(holder): holder for holder in holders}
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(holders), _READS_PER_CALL):
            got = self._get(list(by_key)[start : start + _READS_PER_CALL], deadline, consistent=True)
            if got is None:
                return None
            found.update(got)
        return {
            by_key[key]: Receipt(_places(record, "published"), _places(record, "unknown"))
            for key, record in found.items()
        }

    def _get(self, keys: list[str], deadline: Deadline, consistent: bool) -> dict[str, dict[str, Any]] | None:
        """The items of `keys` (one BatchGetItem's worth), unprocessed keys asked again; None if not in time."""
        pending: Any = {self._table: {"Keys": [{"id": {"S": key}} for key in keys], "ConsistentRead": consistent}}
        found: dict[str, dict[str, Any]] = {}

        def read(client: "DynamoDBClient") -> None:
            nonlocal pending
            try:
                answer = client.batch_get_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as error:
                retry_unless_permanent(error)
                raise
            for record in answer.get("Responses", {}).get(self._table, []):
                found[record["id"]["S"]] = record
            pending = answer.get("UnprocessedKeys")
            if pending:
                raise Retryable("UnprocessedKeys")

        patience = self._patience if consistent else self._read_back_patience
        with contextlib.suppress(OutOfTime, ClientError, BotoCoreError):
            retrying(read, deadline, patience, self._sleep)
            return found
        return None


def _places(record: dict[str, Any], name: str) -> frozenset[int]:
    return frozenset(int(place) for place in record.get(name, {}).get("NS", []))


# A record found that could not be read, or whose round's receipt could not: neither published nor claimable.
_UNREADABLE = Claim(ClaimState.UNREACHABLE, reason="another delivery's record could not be read")


def _overdue_statements(keys: list[str], started: bool) -> dict[str, str | Claim]:
    """Statements not answered by the deadline: an INSERT among them is not published here, and its round's
    receipt releases it if it was carried out."""
    return dict.fromkeys(keys, _overdue_claim(keys[0], started))


def _inserted_claim(outcome: str | Claim) -> Claim:
    """The claim an INSERT made: new, or unreachable (refused for a reason other than a record in the way)."""
    if isinstance(outcome, Claim):
        return outcome
    return _NEW if outcome == "" else Claim(ClaimState.UNREACHABLE, reason=outcome)


def _taken_over_claim(outcome: str | Claim) -> Claim:
    """What a take-over's UPDATE (or an expired record's DELETE) made: new, held by another delivery, or none."""
    if isinstance(outcome, Claim):
        return outcome
    if outcome == "":
        return _NEW
    if outcome == "ConditionalCheckFailed":
        return Claim(ClaimState.IN_PROGRESS, seconds_left=1)
    return Claim(ClaimState.UNREACHABLE, reason=outcome)


def _overdue_claim(key: str, started: bool) -> Claim:
    """A claim not answered by the deadline: not published here; its round's receipt releases it if written."""
    return Claim(ClaimState.UNREACHABLE, reason="no answer by the deadline") if started else _LATE


def _overdue_read(call: list[str], started: bool) -> dict[str, dict[str, Any]]:
    return {}


class AtLeastOnce:
    """No dedup table: every delivery is published, a redelivery too."""

    # Nothing to claim, so nothing to do a hundred at a time: a batch is published in one round.
    round_sizes = (sys.maxsize, sys.maxsize)
    claim_seconds = 0  # nothing holds a redelivery off

    def settle_seconds(self) -> float:
        return 0.0

    def claim_seconds_needed(self) -> float:
        return 0.0

    def recorded(self, keys: Sequence[str], deadline: Deadline) -> dict[str, Claim]:
        return {}

    def key(self, account_id: str, message_id: str) -> str:
        """Nothing is recorded: any key that tells events apart will do."""
        return message_id

    def claim(self, keys: Sequence[str], deadline: Deadline, holders: Mapping[str, str]) -> Round:
        return Round("", [_NEW] * len(keys))

    def settle(self, round_: Round, published: Collection[str], unknown: Collection[str], deadline: Deadline) -> int:
        """Nothing was claimed, so nothing is left to record."""
        return 0


def record_key(account_id: str, message_id: str) -> str:
    """The record's id: the account, and a digest that bounds any messageId to 64 characters."""
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{account_id}/{digest}"


def receipt_key(token: str) -> str:
    """The id of a round's receipt."""
    return f"round/{token}"


def deduplication() -> DedupTable | AtLeastOnce:
    """The deployment's `DEDUP_TABLE`, for one request; without it, delivery is at-least-once."""
    table_name = config.dedup_table()
    if table_name is None:
        return AtLeastOnce()
    return DedupTable(dynamodb_patience(), dynamodb_read_back_patience(), table_name, config.dedup_claim_seconds())


@cache
def _pool() -> ThreadPoolExecutor:
    """Threads for a batch's concurrent claims and reads, kept for the life of the process."""
    return ThreadPoolExecutor(max_workers=CONCURRENT_CALLS, thread_name_prefix="dedup")
