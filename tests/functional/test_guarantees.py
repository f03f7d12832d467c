"""The delivery guarantees, as a property over randomized deliveries with injected faults.

Events are delivered the way Segment and its libraries deliver them: single
events and batches, retried after a 5xx until they are acknowledged, and
sometimes delivered again after a 200 (at-least-once). Meanwhile SNS and
DynamoDB fail at random: throttling, 5xx, resets, timeouts, and on FIFO topics
also responses lost after SNS took the message. With a dedup table:

- every acknowledged event is published exactly once;
- an event that was never published was never answered anything but a 5xx;
- every answer comes well within Segment's 5-second timeout.

GUARANTEE_EVENTS sets how many events each run delivers (`make fuzz` raises it).
"""

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from chalice.test import Client

from chalicelib.dynamodb import dynamodb_client
from chalicelib.publisher import sns_client
from tests.aws import DEDUP_TABLE, Deployment
from tests.conftest import Api, configure
from tests.faults import INTERNAL_ERROR, THROTTLED, UNAVAILABLE

EVENTS = int(os.environ.get("GUARANTEE_EVENTS", "120"))
SEGMENT_TIMEOUT_SECONDS = 5.0
# Segment gives up after 4 hours; here, after this many deliveries of one body.
MAX_DELIVERIES = 12
REDELIVERY_AFTER_200 = 0.25
BATCH_SHARE = 0.3
SNS_FAULT_RATE = 0.25
DYNAMODB_FAULT_RATE = 0.1


@dataclass
class Ledger:
    """What each messageId was answered, across all its deliveries."""

    answers: dict[str, list[int]] = field(default_factory=dict)
    slowest: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)

    def record(self, message_ids: list[str], status: int, seconds: float) -> None:
        for message_id in message_ids:
            self.answers.setdefault(message_id, []).append(status)
        self.slowest = max(self.slowest, seconds)


@contextmanager
def faults(rng: random.Random, ledger: Ledger, lost_responses: bool) -> Iterator[None]:
    """SNS and DynamoDB failing at random, at the service's own clients."""

    def sns_fault(model: Any, **kwargs: Any) -> Any:
        if rng.random() >= SNS_FAULT_RATE:
            return None
        kind = rng.choice(["throttled", "internal", "unavailable", "reset", "timeout"])
        ledger.faults[f"SNS {kind}"] += 1
        if kind == "reset":
            raise ConnectionClosedError(endpoint_url="https://sns.us-east-1.amazonaws.com")
        if kind == "timeout":
            raise ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com")
        return {"throttled": THROTTLED, "internal": INTERNAL_ERROR, "unavailable": UNAVAILABLE}[kind](model)

    def lost_response(**kwargs: Any) -> None:
        # SNS took the message; the answer never came back.
        if rng.random() < SNS_FAULT_RATE / 2:
            ledger.faults["SNS response lost"] += 1
            raise ReadTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com")

    def dynamodb_fault(**kwargs: Any) -> None:
        if rng.random() < DYNAMODB_FAULT_RATE:
            ledger.faults["DynamoDB unreachable"] += 1
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    sns: Any = sns_client().meta.events
    dynamodb: Any = dynamodb_client().meta.events
    hooks: list[tuple[Any, str, Callable[..., Any]]] = [
        (sns, f"before-call.sns.{operation}", sns_fault) for operation in ("Publish", "PublishBatch")
    ]
    if lost_responses:
        hooks += [(sns, f"after-call.sns.{operation}", lost_response) for operation in ("Publish", "PublishBatch")]
    hooks += [(dynamodb, f"before-call.dynamodb.{operation}", dynamodb_fault) for operation in ("PutItem", "GetItem")]
    hooks += [(dynamodb, "before-call.dynamodb.BatchWriteItem", dynamodb_fault)]
    for events, name, hook in hooks:
        events.register_first(name, hook)
    try:
        yield
    finally:
        for events, name, hook in hooks:
            events.unregister(name, hook)


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


@pytest.mark.parametrize(("fifo", "seed"), [(False, 1), (True, 2)], ids=["standard topics", "FIFO topics"])
def test_acknowledged_events_are_published_exactly_once_and_nothing_unpublished_was_acknowledged(
    client: Client,
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fifo: bool,
    seed: int,
) -> None:
    rng = random.Random(seed)
    deployment = Deployment(fifo=fifo, dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    api = Api(client, deployment.create_key("1234"))
    ledger = Ledger()
    message_ids = [f"m-{seed}-{n}" for n in range(EVENTS)]

    events = {message_id: event(rng, message_id) for message_id in message_ids}
    # WHEN Segment delivers every event while SNS and DynamoDB keep failing
    with faults(rng, ledger, lost_responses=fifo):
        while message_ids:
            size = rng.randint(2, 20) if rng.random() < BATCH_SHARE else 1
            chunk, message_ids = message_ids[:size], message_ids[size:]
            deliver(api, rng, ledger, [events[message_id] for message_id in chunk])
    published = Counter(item.event["messageId"] for item in deployment.delivered_anywhere())
    acknowledged = {message_id for message_id, answers in ledger.answers.items() if 200 in answers}

    # THEN each acknowledged event is published once, and nothing unpublished was acknowledged
    assert {message_id: published[message_id] for message_id in acknowledged} == dict.fromkeys(acknowledged, 1)
    never_published = set(ledger.answers) - set(published)
    assert all(status >= 500 for message_id in never_published for status in ledger.answers[message_id])
    assert {status for answers in ledger.answers.values() for status in answers} <= {200, 500, 503}
    assert ledger.slowest < SEGMENT_TIMEOUT_SECONDS
    assert sum(ledger.faults.values()) > EVENTS / 10, "a proof needs faults"

    # WHEN the faults are over, the claims they left in progress have expired, and Segment retries the rest
    expire_claims_in_progress(deployment)
    for message_id in set(events) - acknowledged:
        deliver(api, rng, ledger, [events[message_id]])
    published.update(item.event["messageId"] for item in deployment.delivered_anywhere())

    # THEN every event is acknowledged and published exactly once: nothing lost, nothing twice
    assert all(200 in answers for answers in ledger.answers.values())
    assert published == Counter(dict.fromkeys(events, 1))
    answers = sum(map(len, ledger.answers.values()))
    with capsys.disabled():
        print(f"\n{EVENTS} events, {answers} answers, {sum(ledger.faults.values())} faults: {dict(ledger.faults)}")


def expire_claims_in_progress(deployment: Deployment) -> None:
    """What 30 seconds do to the claims of requests that failed to release them."""
    for key, record in deployment.dedup_records().items():
        if record["status"] == "in_progress":
            deployment.dynamodb.update_item(
                TableName=DEDUP_TABLE,
                Key={"id": {"S": key}},
                UpdateExpression="SET expiration = :past",
                ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
            )
