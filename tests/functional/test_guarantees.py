"""The delivery guarantees, as a property over randomized deliveries with injected faults.

Events are delivered the way Segment and its libraries deliver them: single
events and batches, retried after a 5xx until they are acknowledged, and
sometimes delivered again after a 200 (at-least-once). Meanwhile SNS and
DynamoDB fail at random, at the service's own clients: throttling, 5xx, no
connection, resets, timeouts, answers lost after AWS did the work, and calls
that are slow or hang until the client's read timeout. With a dedup table:

- every answer leaves within Segment's 5 seconds;
- an event that was never published was never answered anything but a 5xx;
- each event reaches subscribers at most once, plus once per unknown outcome
  it met (an SNS answer lost after SNS took it, or a round's receipt that
  could not be written), on standard and FIFO topics alike;
- once the faults stop and Segment retries, every event is published.

GUARANTEE_EVENTS sets how many events each run delivers (`make fuzz` raises it).
"""

import functools
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from chalice.test import Client

from chalicelib.dedup import record_key
from chalicelib.dynamodb import dynamodb_clients
from chalicelib.publisher import sns_clients
from tests.aws import Deployment
from tests.faults import INTERNAL_ERROR, THROTTLED, UNAVAILABLE, waits_for
from tests.helpers import Api, configure

EVENTS = int(os.environ.get("GUARANTEE_EVENTS", "120"))
SEGMENT_TIMEOUT_SECONDS = 5.0
# Segment gives up after 4 hours; here, after this many deliveries of one body.
MAX_DELIVERIES = 12
REDELIVERY_AFTER_200 = 0.25
BATCH_SHARE = 0.3
SNS_FAULT_RATE = 0.25
DYNAMODB_FAULT_RATE = 0.1
ACCOUNT = "1234"
_SNS = "https://sns.us-east-1.amazonaws.com"
_DYNAMODB = "https://dynamodb.us-east-1.amazonaws.com"


@dataclass
class Ledger:
    """What each messageId was answered, and what the faults did to it."""

    answers: dict[str, list[int]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    # Per messageId: unknown outcomes that may each have added a copy.
    unknown: Counter[str] = field(default_factory=Counter)

    def record(self, message_ids: list[str], status: int, seconds: float) -> None:
        for message_id in message_ids:
            self.answers.setdefault(message_id, []).append(status)
        self.seconds.append(seconds)

    def timing(self) -> str:
        ordered = sorted(self.seconds)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return f"answers p50 {statistics.median(ordered):.3f} s, p99 {p99:.3f} s, max {ordered[-1]:.3f} s"


class Faults:
    """SNS and DynamoDB failing at random at the service's own clients; with `slow`, also slow and hanging."""

    def __init__(self, rng: random.Random, ledger: Ledger, slow: bool) -> None:
        self.rng = rng
        self.ledger = ledger
        self.sns_kinds = ["throttled", "internal", "unavailable", "not connected", "reset", "timeout"]
        self.dynamodb_kinds = ["unreachable", "answer lost"] + (["slow", "hang"] if slow else [])
        self.sns_kinds += ["slow", "hang"] if slow else []
        # Dedup record ids to messageIds, and each round's claims by place, for telling which events a receipt records.
        self.completions = {record_key(ACCOUNT, message_id): message_id for message_id in ledger.answers}
        self.claimed: dict[tuple[str, int], str] = {}

    @contextmanager
    def injected(self) -> Iterator[None]:
        """Every hook on every patience level's client: a call may go through any of them."""
        hooks: list[tuple[Any, str, Callable[..., Any]]] = []
        for sns in sns_clients():
            fault = functools.partial(self.sns_fault, timeout=waits_for(sns))
            for operation in ("Publish", "PublishBatch"):
                hooks += [
                    (sns, f"before-parameter-build.sns.{operation}", self.note_sns),
                    (sns, f"before-call.sns.{operation}", fault),
                    (sns, f"after-call.sns.{operation}", self.sns_answer_lost),
                ]
        for dynamodb in dynamodb_clients():
            fault = functools.partial(self.dynamodb_fault, timeout=waits_for(dynamodb))
            for operation in ("PutItem", "BatchExecuteStatement", "BatchGetItem"):
                hooks += [
                    (dynamodb, f"before-parameter-build.dynamodb.{operation}", self.note_dynamodb),
                    (dynamodb, f"before-call.dynamodb.{operation}", fault),
                    (dynamodb, f"after-call.dynamodb.{operation}", self.dynamodb_answer_lost),
                ]
        for client, name, hook in hooks:
            client.meta.events.register_first(name, hook)
        try:
            yield
        finally:
            for client, name, hook in hooks:
                client.meta.events.unregister(name, hook)

    def note_sns(self, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        """Which events a Publish or PublishBatch call carries, for a fault that follows it."""
        entries = params.get("PublishBatchRequestEntries") or [params]
        context["message_ids"] = [entry["MessageAttributes"]["messageId"]["StringValue"] for entry in entries]

    def note_dynamodb(self, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        """Which round holds each claim, and which published events a round's receipt records."""
        item = params.get("Item", {})
        record_id = item.get("id", {}).get("S", "")
        context["completing"] = []
        if record_id.startswith("round/"):
            token = record_id.removeprefix("round/")
            places = item.get("published", {}).get("NS", [])
            context["completing"] = [self.claimed[(token, int(place))] for place in places]
        elif record_id:
            self.claimed[(item["claimed_by"]["S"], int(item["at"]["N"]))] = self.completions[record_id]
        for statement in params.get("Statements", []):
            values = [value.get("S") or value.get("N") for value in statement["Parameters"]]
            if statement["Statement"].startswith("INSERT"):  # id, claimed_by, at, ...
                record_id, holder, place = values[:3]
            elif statement["Statement"].startswith("UPDATE"):  # claimed_by, at, until, expiration; id, previous
                holder, place, record_id = values[0], values[1], values[4]
            else:  # a DELETE claims nothing
                continue
            self.claimed[(str(holder), int(str(place)))] = self.completions[str(record_id)]

    def sns_fault(self, model: Any, timeout: float, **kwargs: Any) -> Any:
        if self.rng.random() >= SNS_FAULT_RATE:
            return None
        kind = self.rng.choice(self.sns_kinds)
        self.ledger.faults[f"SNS {kind}"] += 1
        if kind == "slow":
            time.sleep(self.rng.uniform(0.2, timeout * 0.9))
            return None
        if kind == "hang":
            time.sleep(timeout)
        if kind in ("hang", "timeout"):
            raise ReadTimeoutError(endpoint_url=_SNS)
        if kind == "not connected":
            raise EndpointConnectionError(endpoint_url=_SNS)
        if kind == "reset":
            raise ConnectionClosedError(endpoint_url=_SNS)
        return {"throttled": THROTTLED, "internal": INTERNAL_ERROR, "unavailable": UNAVAILABLE}[kind](model)

    def sns_answer_lost(self, context: dict[str, Any], **kwargs: Any) -> None:
        """SNS took the messages; the answer never came back."""
        if self.rng.random() < SNS_FAULT_RATE / 2:
            self.ledger.faults["SNS answer lost"] += 1
            self.ledger.unknown.update(context["message_ids"])
            raise ReadTimeoutError(endpoint_url=_SNS)

    def dynamodb_fault(self, context: dict[str, Any], timeout: float, **kwargs: Any) -> None:
        if self.rng.random() >= DYNAMODB_FAULT_RATE:
            return
        kind = self.rng.choice(self.dynamodb_kinds)
        self.ledger.faults[f"DynamoDB {kind}"] += 1
        if kind == "slow":
            time.sleep(self.rng.uniform(0.1, timeout * 0.9))
        elif kind == "answer lost":
            context["answer lost"] = True
        else:
            # A receipt left unwritten: its published events may be published again once the claim window ends.
            self.ledger.unknown.update(context.get("completing", []))
            if kind == "hang":
                time.sleep(timeout)
                raise ReadTimeoutError(endpoint_url=_DYNAMODB)
            raise EndpointConnectionError(endpoint_url=_DYNAMODB)

    def dynamodb_answer_lost(self, context: dict[str, Any], **kwargs: Any) -> None:
        """DynamoDB did the write; the answer never came back."""
        if context.pop("answer lost", False):
            raise ReadTimeoutError(endpoint_url=_DYNAMODB)


def event(rng: random.Random, message_id: str) -> dict[str, Any]:
    kind = rng.choice(["identify", "track", "page", "group", "alias", "delete"])
    fields: dict[str, Any] = {"type": kind, "userId": f"u{rng.randrange(20)}", "messageId": message_id}
    if kind == "track":
        fields["event"] = "Order Completed"
    if kind == "group":
        fields["groupId"] = "g1"
    if kind == "alias":
        fields["previousId"] = "a1"
    return fields


def deliver(api: Api, rng: random.Random, ledger: Ledger, events: list[dict[str, Any]]) -> None:
    """Deliver as Segment does: retry a 5xx (or 429), and sometimes deliver an acknowledged body again."""
    as_batch = len(events) > 1
    body: dict[str, Any] = {"batch": events} if as_batch else events[0]
    for _ in range(MAX_DELIVERIES):
        started = time.monotonic()
        status = api.post(body, path="/v1/batch" if as_batch else "/v1/segment").status_code
        ledger.record([e["messageId"] for e in events], status, time.monotonic() - started)
        if (status < 500 and status != 429) and rng.random() >= REDELIVERY_AFTER_200:
            return


RUNS = [(False, False, 1), (True, False, 2), (False, True, 3)]


@pytest.mark.parametrize(
    ("fifo", "slow", "seed"), RUNS, ids=["standard topics", "FIFO topics", "standard topics, slow AWS"]
)
def test_every_event_is_published_at_most_once_per_unknown_outcome_plus_once_and_answered_in_time(
    client: Client,
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fifo: bool,
    slow: bool,
    seed: int,
) -> None:
    rng = random.Random(seed)
    deployment = Deployment(fifo=fifo, dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    api = Api(client, deployment.create_key(ACCOUNT))
    ledger = Ledger()
    count = EVENTS // 2 if slow else EVENTS
    message_ids = [f"m-{seed}-{n}" for n in range(count)]
    events = {message_id: event(rng, message_id) for message_id in message_ids}
    ledger.answers.update({message_id: [] for message_id in events})

    # WHEN Segment delivers every event while SNS and DynamoDB keep failing
    with Faults(rng, ledger, slow).injected():
        while message_ids:
            size = rng.randint(2, 20) if rng.random() < BATCH_SHARE else 1
            chunk, message_ids = message_ids[:size], message_ids[size:]
            deliver(api, rng, ledger, [events[message_id] for message_id in chunk])
    published = Counter(item.event["messageId"] for item in deployment.delivered_anywhere())
    acknowledged = {message_id for message_id, answers in ledger.answers.items() if 200 in answers}

    # THEN every answer came in time, nothing unpublished was acknowledged, and nothing was published
    # more often than once plus once per unknown outcome
    assert max(ledger.seconds) < SEGMENT_TIMEOUT_SECONDS, ledger.timing()
    assert acknowledged <= set(published)
    never_published = set(ledger.answers) - set(published)
    assert all(status >= 500 for message_id in never_published for status in ledger.answers[message_id])
    assert {status for answers in ledger.answers.values() for status in answers} <= {200, 500, 503}
    assert {m: n for m, n in published.items() if n > 1 + ledger.unknown[m]} == {}
    assert sum(ledger.faults.values()) > count / 10, "a proof needs faults"

    # WHEN the faults are over, the claims they left have expired, and Segment retries the rest
    deployment.expire_claims_in_progress()
    for message_id in set(events) - acknowledged:
        deliver(api, rng, ledger, [events[message_id]])
    published.update(item.event["messageId"] for item in deployment.delivered_anywhere())

    # THEN every event is acknowledged and published, each at most once plus once per unknown outcome
    assert all(200 in answers for answers in ledger.answers.values())
    assert set(published) == set(events)
    assert {m: n for m, n in published.items() if n > 1 + ledger.unknown[m]} == {}
    copies = Counter(published.values())
    with capsys.disabled():
        print(
            f"\n{count} events, {len(ledger.seconds)} answers, {ledger.timing()}; copies per event {dict(copies)};"
            f" {sum(ledger.faults.values())} faults: {dict(ledger.faults)}"
        )
