"""A request's events from claim to answer: each published at most once, all within the deadline.

Every ingest route hands its messages to `publish_once`, a single event as a
batch of one, which for each round of up to a hundred events:

1. claims them in the dedup table (without one, every claim is granted);
2. publishes the newly claimed ones;
3. settles: one receipt names what SNS took and what has an unknown
   outcome, so that a redelivery is acknowledged for the first, claims again
   what SNS did not take, and waits for the claim window on the second.

Each event ends with one `Outcome`, kept by messageId, and the answer and the
log line are built from those outcomes alone.
"""

from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

from chalicelib.deadline import GRACE_SECONDS, Deadline
from chalicelib.dedup import AtLeastOnce, ClaimState, DedupTable, Round, deduplication
from chalicelib.dynamodb import CONCURRENT_CALLS
from chalicelib.errors import (
    RETRY_AFTER_SECONDS,
    DeadlineReached,
    DedupUnavailable,
    IngestError,
    InProgress,
    PublishFailed,
    PublishOutcomeUnknown,
    PublishUnavailable,
    Unavailable,
)
from chalicelib.messages import Message
from chalicelib.publisher import Sent, SnsPublisher, get_publisher


class Outcome(Enum):
    """What became of one event; where one messageId is sent twice in a request, the first listed stands."""

    REFUSED = "refused"  # SNS refused it for a reason that needs an operator
    UNCLAIMED = "unclaimed"  # the dedup table failed on every attempt, or refused: not published
    UNSENT = "unsent"  # SNS failed on every attempt: not published
    UNKNOWN = "unknown"  # sent, but SNS's answer was lost: it may have been published
    IN_PROGRESS = "in_progress"  # another delivery holds its claim: not published here
    HELD_BACK = "held_back"  # an earlier event of its FIFO message group was not published: neither is it
    LATE = "late"  # no time was left before the deadline to claim or publish it
    PUBLISHED = "published"  # SNS acknowledged it, in this request
    DUPLICATE = "duplicates"  # published by an earlier delivery


_RANK = {outcome: rank for rank, outcome in enumerate(Outcome)}
_DONE = (Outcome.PUBLISHED, Outcome.DUPLICATE)
_DONE_SET = frozenset(_DONE)
# What the answer says of events that are not done, most pressing first.
_SAID = {
    Outcome.REFUSED: "refused by SNS ({})",
    Outcome.UNCLAIMED: "not published: the deduplication table is unavailable ({})",
    Outcome.UNSENT: "not published: SNS is unavailable ({})",
    Outcome.UNKNOWN: "perhaps published: SNS did not answer ({})",
    Outcome.IN_PROGRESS: "held by another delivery of the same messageId",
    Outcome.HELD_BACK: "held back behind an earlier event of the same person on their FIFO topic",
    Outcome.LATE: "not published: no time was left before Segment's timeout",
}
# What an answer says of published events whose receipt could not be written.
UNRECORDED_SAID = "published but not recorded: sent again after the claim window, they may be published again"
# The 503 of a request whose most pressing undone outcome is this (a refusal is a 500).
_UNAVAILABLE: dict[Outcome, type[Unavailable]] = {
    Outcome.UNCLAIMED: DedupUnavailable,
    Outcome.UNSENT: PublishUnavailable,
    Outcome.UNKNOWN: PublishOutcomeUnknown,
    Outcome.IN_PROGRESS: InProgress,
    Outcome.HELD_BACK: PublishUnavailable,
    Outcome.LATE: DeadlineReached,
}
_FROM_CLAIM = {
    ClaimState.DUPLICATE: Outcome.DUPLICATE,
    ClaimState.IN_PROGRESS: Outcome.IN_PROGRESS,
    ClaimState.UNREACHABLE: Outcome.UNCLAIMED,
    ClaimState.LATE: Outcome.LATE,
}
_FROM_SENDING = {
    Sent.PUBLISHED: Outcome.PUBLISHED,
    Sent.REFUSED: Outcome.REFUSED,
    Sent.UNSENT: Outcome.UNSENT,
    Sent.UNKNOWN: Outcome.UNKNOWN,
    Sent.HELD_BACK: Outcome.HELD_BACK,
    Sent.LATE: Outcome.LATE,
}
# What a batch sent again reads back at once: one read of a hundred keys per thread.
READ_BACK_WAVE = CONCURRENT_CALLS * 100
# Claims refused because another delivery recorded the event: a sign the batch is being sent again.
_FOUND = frozenset({ClaimState.DUPLICATE, ClaimState.IN_PROGRESS})
# A FIFO topic and message group: one person's events there, which subscribers receive in the order sent.
_Group = tuple[str, str]


@dataclass
class Outcomes:
    """Each event's outcome by messageId, the first reason met for each outcome, and the request's figures."""

    by_message_id: dict[str, Outcome] = field(default_factory=dict)
    reasons: dict[Outcome, str] = field(default_factory=dict)
    # The longest a claim holds an event off, in seconds: the time left of one
    # held by another delivery, the window of one kept for an unknown outcome.
    held_for: int = 0
    # Messages SNS acknowledged: more than the events published when, without a
    # dedup table, a batch repeats a messageId.
    published: int = 0
    attempts: int = 0
    publish_seconds: float = 0.0
    # Published events whose round's receipt could not be written: sent again
    # after the claim window, they may be published again.
    unrecorded: int = 0

    def record(self, message_id: str, outcome: Outcome, reason: str = "", held_for: int = 0) -> None:
        known = self.by_message_id.get(message_id)
        if known is None or _RANK[outcome] < _RANK[known]:
            self.by_message_id[message_id] = outcome
        self.reasons.setdefault(outcome, reason)
        self.held_for = max(self.held_for, held_for)
        self.published += outcome is Outcome.PUBLISHED

    def counts(self) -> Counter[Outcome]:
        return Counter(self.by_message_id.values())

    def log_fields(self) -> dict[str, Any]:
        """What the request's log line says of its events: counts, never ids or values."""
        fields: dict[str, Any] = {outcome.value: count for outcome, count in self.counts().items()}
        fields.update(published=self.published, attempts=self.attempts)
        if self.published:
            # The PublishLatency metric: the time until SNS acknowledged what it did.
            fields["publish_ms"] = round(self.publish_seconds * 1000, 3)
        if self.unrecorded:
            fields["unrecorded"] = self.unrecorded
        return fields

    def error(self) -> IngestError | None:
        """None when every event is published; otherwise the error that says how many are, and why not."""
        counts = self.counts()
        if counts.keys() <= _DONE_SET:
            return None
        undone = [outcome for outcome in _SAID if counts[outcome]]
        said = {outcome: _SAID[outcome].format(self.reasons[outcome]) for outcome in undone}
        if len(self.by_message_id) == 1:
            message = f"the event is {said[undone[0]]}"
        else:
            done = sum(counts[outcome] for outcome in _DONE)
            parts = [f"{done} of {len(self.by_message_id)} events are published"]
            message = "; ".join(parts + [f"{counts[outcome]} {said[outcome]}" for outcome in undone])
        if self.unrecorded:
            message += f"; {self.unrecorded} {UNRECORDED_SAID}"
        if undone[0] is Outcome.REFUSED:
            return PublishFailed(message)
        # A retry before the claims are over would be answered the same; with none, a few seconds.
        return _UNAVAILABLE[undone[0]](f"{message}; retry later", self.held_for or RETRY_AFTER_SECONDS)


def publish_once(messages: Sequence[Message], account_id: str, deadline: Deadline) -> Outcomes:
    """Claim, publish and settle `messages` by the deadline; what became of each, by messageId.

    They go in rounds (a hundred, then up to four hundred at a time), each
    claimed and published before the next is claimed, and settled while the
    next one goes: whatever the deadline cuts off, what came before it is done.
    A batch whose rounds find events already claimed is being sent again: what
    comes next is read back first, a wave of reads at a time, and what is
    published or held elsewhere set aside, so that Segment's next retry gets
    further instead of starting over, however slow the reads are. Events go
    by their position in `messages`, which orders each FIFO message group.
    """
    dedup = deduplication()
    rounds = _Rounds(messages, dedup, get_publisher(), account_id, deadline)
    first_size, size = dedup.round_sizes
    positions = range(len(messages))
    ready, unread = list(positions[:first_size]), list(positions[first_size:])
    sent_again = False
    while ready or unread:
        if sent_again and unread and len(ready) < size:
            wave, unread = unread[:READ_BACK_WAVE], unread[READ_BACK_WAVE:]
            ready += rounds.set_aside_recorded(wave)
            continue
        if not ready:
            ready, unread = unread[:size], unread[size:]
        this_round, ready = ready[:size], ready[size:]
        sent_again = rounds.run(this_round) or sent_again
    return rounds.finish()


class _Rounds:
    """Claim, publish, settle, a round at a time, into one set of outcomes; events by position in `messages`.

    On a FIFO topic no event is published while an earlier event of its message
    group in the request is not, whatever the reason (a claim held elsewhere or
    not made, a publish failed or unknown, no time left): it is held back, and
    neither claimed nor left claimed, so that Segment's retry publishes it after
    the earlier one.
    """

    def __init__(
        self,
        messages: Sequence[Message],
        dedup: DedupTable | AtLeastOnce,
        publisher: SnsPublisher,
        account_id: str,
        deadline: Deadline,
    ):
        self.outcomes = Outcomes()
        self._messages = messages
        self._dedup = dedup
        self._publisher = publisher
        self._account_id = account_id
        self._deadline = deadline
        # Claims and publishes leave time for one attempt at settling them, as long as DynamoDB takes now.
        self._work = deadline.earlier_by(dedup.settle_seconds())
        # The first position of each FIFO message group whose event there is not published: the group's later
        # events wait for the retry, to keep their order.
        self._held_from: dict[_Group, int] = {}
        # Read back as claimable: the round whose claim each key's claim takes over.
        self._holders: dict[str, str] = {}
        # The last round and its published and unknown keys, to settle; earlier rounds' being settled.
        self._to_settle: tuple[Round, list[str], list[str]] | None = None
        self._settling: list[tuple[Future[int], int]] = []

    def set_aside_recorded(self, positions: Sequence[int]) -> list[int]:
        """Record the outcomes of the events the dedup table already knows; the others, to claim."""
        recorded = self._dedup.recorded([self._key(position) for position in positions], self._work)
        left: list[int] = []
        for position in positions:
            key = self._key(position)
            claim = recorded.get(key)
            if claim is None or claim.state is ClaimState.CLAIMABLE:
                left.append(position)
                if claim is not None:
                    self._holders[key] = claim.holder
            else:
                self._record(position, _FROM_CLAIM[claim.state], claim.reason, claim.seconds_left)
        return left

    def run(self, positions: Sequence[int]) -> bool:
        """Claim and publish one round, settling the previous one meanwhile; whether any was claimed already.

        Once the request has published something, a round that cannot be
        expected to be claimed and published in the time left, as AWS answers
        now, is not claimed: Segment's retry claims it as new, rather than take
        over a claim that was never used. Until then a round is tried whatever
        the expectation, so that every delivery gets as far as time allows.
        """
        self._settle_in_background()
        self._work = self._deadline.earlier_by(self._dedup.settle_seconds())
        expected = self._dedup.claim_seconds_needed() + self._publisher.seconds_needed()
        if self.outcomes.published and not self._work.allows(expected):
            for position in positions:
                self._record(position, Outcome.LATE)
            return False
        positions = self._not_held_back(positions)
        keys = [self._key(position) for position in positions]
        round_ = self._dedup.claim(keys, self._work, self._holders)
        published: list[str] = []
        unknown: list[str] = []
        new: list[int] = []
        found = round_.found
        for position, claim in zip(positions, round_.claims, strict=True):
            if claim.state is not ClaimState.NEW:
                found = found or claim.state in _FOUND
                self._record(position, _FROM_CLAIM[claim.state], claim.reason, claim.seconds_left)
            elif self._held_back(position):
                self._record(position, Outcome.HELD_BACK)  # its claim is released with the round's
            else:
                new.append(position)
        report = self._publisher.publish([self._messages[position] for position in new], self._work)
        for position, sending in zip(new, report.sendings, strict=True):
            outcome = _FROM_SENDING[sending.state]
            # An unknown outcome keeps its claim: a redelivery waits for the window to end.
            hold = self._dedup.claim_seconds if outcome is Outcome.UNKNOWN else 0
            self._record(position, outcome, sending.reason, hold)
            if outcome is Outcome.PUBLISHED:
                published.append(self._key(position))
            elif outcome is Outcome.UNKNOWN:
                unknown.append(self._key(position))
        self.outcomes.attempts = max(self.outcomes.attempts, report.attempts)
        self.outcomes.publish_seconds += report.seconds
        self._to_settle = (round_, published, unknown)
        return found

    def finish(self) -> Outcomes:
        """Settle the last round here, and wait for the others no longer than the deadline."""
        if self._to_settle is not None:
            round_, published, unknown = self._to_settle
            self.outcomes.unrecorded += self._dedup.settle(round_, published, unknown, self._deadline)
        for settling, published_count in self._settling:
            try:
                self.outcomes.unrecorded += settling.result(timeout=self._deadline.remaining() + GRACE_SECONDS)
            except TimeoutError:
                self.outcomes.unrecorded += published_count
        return self.outcomes

    def _settle_in_background(self) -> None:
        if self._to_settle is not None:
            round_, published, unknown = self._to_settle
            settling = _settle_pool().submit(self._dedup.settle, round_, published, unknown, self._deadline)
            self._settling.append((settling, len(published)))
        self._to_settle = None

    def _not_held_back(self, positions: Sequence[int]) -> list[int]:
        """The positions to claim: those held back already are recorded so, and not claimed at all."""
        to_claim: list[int] = []
        for position in positions:
            if self._held_back(position):
                self._record(position, Outcome.HELD_BACK)
            else:
                to_claim.append(position)
        return to_claim

    def _record(self, position: int, outcome: Outcome, reason: str = "", held_for: int = 0) -> None:
        """Record an event's outcome; one not done holds back the later events of its FIFO message group."""
        message = self._messages[position]
        self.outcomes.record(message.message_id, outcome, reason, held_for)
        group = _group(message)
        if group is not None and outcome not in _DONE_SET:
            self._held_from[group] = min(position, self._held_from.get(group, position))

    def _held_back(self, position: int) -> bool:
        """Whether an earlier event of this one's FIFO message group, in this request, is not published."""
        group = _group(self._messages[position])
        return group is not None and self._held_from.get(group, position) < position

    def _key(self, position: int) -> str:
        return self._dedup.key(self._account_id, self._messages[position].message_id)


def _group(message: Message) -> _Group | None:
    """The FIFO topic and message group of a message; None on a standard topic, which keeps no order."""
    return None if message.group_id is None else (message.topic_arn, message.group_id)


@cache
def _settle_pool() -> ThreadPoolExecutor:
    """Threads that settle one round's claims while the next is published, kept for the life of the process.

    Apart from the dedup table's own pool, whose threads the claims wait for.
    """
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="settle")
