"""FIFO order: no event is published while an earlier event of its person, in the same request, is not.

One person's events share a FIFO message group (docs/contract.md §4). Whatever
keeps an event from being published in a request (its claim held by another
delivery, a claim DynamoDB never answered, a record read back as in progress,
a failed publish), the person's later events in that request wait for
Segment's retry, so that subscribers receive them in the order they were sent.
Other people's events go on.
"""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.dedup import record_key
from tests.aws import Delivered, Deployment
from tests.faults import carrying, claims, dynamodb_unreachable, sns_unreachable
from tests.helpers import Api, answer_of, configure

# Segment gives up after 4 hours; here, after this many deliveries of one body.
SEGMENT_RETRIES = 5


@pytest.fixture
def fifo(client: Client, aws: None, monkeypatch: pytest.MonkeyPatch) -> tuple[Api, Deployment]:
    """The app with FIFO topics and a dedup table, and an active key for account 1234."""
    deployment = Deployment(fifo=True, dedup=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    return Api(client, deployment.create_key("1234")), deployment


def events(user: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"type": "identify", "userId": user, "messageId": f"{user}-{n}"} for n in range(start, start + count)]


def interleaved(*people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for turn in zip(*people, strict=True) for event in turn]


def ids(sent: list[dict[str, Any]]) -> list[str]:
    return [event["messageId"] for event in sent]


def by_person(delivered: list[Delivered]) -> dict[str, list[str]]:
    """Each person's messageIds in the order their subscriber received them."""
    received: dict[str, list[str]] = {}
    for item in delivered:
        received.setdefault(item.event["userId"], []).append(item.event["messageId"])
    return received


def retried_until_acknowledged(api: Api, body: dict[str, Any], path: str = "/v1/batch") -> None:
    """What Segment does with a 5xx: send the same body again, until it is acknowledged."""
    for _ in range(SEGMENT_RETRIES):
        if api.post(body, path=path).status_code == 200:
            return
    pytest.fail(f"not acknowledged after {SEGMENT_RETRIES} deliveries")


@contextmanager
def publishing_then_failing(api: Api, event: dict[str, Any]) -> Iterator[Callable[[], int]]:
    """A delivery of `event` alone, whose publish waits inside SNS and then fails on every attempt.

    Yields once that delivery holds the event's claim and waits on SNS; calling what is
    yielded lets SNS fail and gives that delivery's status.
    """
    publishing, release = threading.Event(), threading.Event()
    answers: list[Any] = []

    def waiting() -> None:
        publishing.set()
        release.wait(10)

    def finished() -> int:
        release.set()
        delivery.join()
        return int(answers[0].status_code)

    with sns_unreachable(only=carrying(event["messageId"]), before=waiting):
        delivery = threading.Thread(target=lambda: answers.append(api.post(event)))
        delivery.start()
        assert publishing.wait(10)
        try:
            yield finished
        finally:
            release.set()
            delivery.join()


def test_a_persons_later_events_wait_while_another_delivery_holds_an_earlier_ones_claim(
    fifo: tuple[Api, Deployment],
) -> None:
    api, deployment = fifo
    u1, u2 = events("u1", 10), events("u2", 10)
    body = {"batch": interleaved(u1, u2)}
    # GIVEN u1's first event, delivered alone, is being published by that delivery, whose publish will fail
    with publishing_then_failing(api, u1[0]) as other_delivery:
        # WHEN Segment delivers the batch meanwhile
        first = api.post(body, path="/v1/batch")
        arrived = deployment.delivered("identify")
        assert other_delivery() == 503
    # THEN u1's later events wait for the retry, u2's are published, and Segment is told to retry
    assert first.status_code == 503
    assert "held by another delivery" in answer_of(first)["message"]
    assert by_person(arrived) == {"u2": ids(u2)}
    # WHEN Segment retries both deliveries until they are acknowledged
    retried_until_acknowledged(api, body)
    retried_until_acknowledged(api, u1[0], path="/v1/segment")
    # THEN each person's events arrived in the order sent, every one of them once
    assert by_person(arrived + deployment.delivered("identify")) == {"u1": ids(u1), "u2": ids(u2)}


def test_a_round_waits_while_an_earlier_rounds_claims_for_the_same_person_could_not_be_made(
    fifo: tuple[Api, Deployment],
) -> None:
    api, deployment = fifo
    u1 = events("u1", 150)
    body = {"batch": u1}
    first_round = {record_key("1234", event["messageId"]) for event in u1[:100]}

    def claims_the_first_round(params: dict[str, Any]) -> bool:
        statements = params.get("Statements", [])
        return claims(params) and any(statement["Parameters"][0]["S"] in first_round for statement in statements)

    # GIVEN DynamoDB fails every claim of the batch's first round of a hundred events
    with dynamodb_unreachable("BatchExecuteStatement", only=claims_the_first_round):
        first = api.post(body, path="/v1/batch")
    # THEN the second round is not published before the first, nor left claimed: Segment is told to retry
    assert first.status_code == 503
    assert "the deduplication table is unavailable" in answer_of(first)["message"]
    arrived = deployment.delivered("identify")
    assert arrived == []
    assert deployment.dedup_records() == {}
    # WHEN Segment retries THEN every event arrives, in the order sent, once
    retried_until_acknowledged(api, body)
    assert by_person(arrived + deployment.delivered("identify")) == {"u1": ids(u1)}


def test_a_batch_sent_again_holds_a_persons_events_behind_one_read_back_as_in_progress(
    fifo: tuple[Api, Deployment],
) -> None:
    api, deployment = fifo
    u1 = events("u1", 150)
    body = {"batch": u1}
    # GIVEN an earlier delivery published the first hundred events
    assert api.post({"batch": u1[:100]}, path="/v1/batch").status_code == 200
    arrived = deployment.delivered("identify")
    # AND the 121st event, delivered alone, is being published by a delivery whose publish will fail
    with publishing_then_failing(api, u1[120]) as other_delivery:
        # WHEN Segment sends the whole batch: its first round finds duplicates, and the rest is read back
        again = api.post(body, path="/v1/batch")
        arrived += deployment.delivered("identify")
        assert other_delivery() == 503
    # THEN the events before the one in progress are published, and those after it wait for the retry
    assert again.status_code == 503
    assert by_person(arrived) == {"u1": ids(u1[:120])}
    # WHEN Segment retries both deliveries until they are acknowledged
    retried_until_acknowledged(api, body)
    retried_until_acknowledged(api, u1[120], path="/v1/segment")
    # THEN every event arrived, in the order sent, once
    assert by_person(arrived + deployment.delivered("identify")) == {"u1": ids(u1)}


def test_a_failed_publish_holds_back_only_its_persons_later_events(fifo: tuple[Api, Deployment]) -> None:
    api, deployment = fifo
    u1, u2 = events("u1", 15), events("u2", 10)
    # Calls of ten: u1's first ten events, u2's ten, u1's last five.
    body = {"batch": u1[:10] + u2 + u1[10:]}
    # GIVEN SNS fails every call that carries u1's first event
    with sns_unreachable(only=carrying(u1[0]["messageId"])):
        first = api.post(body, path="/v1/batch")
    arrived = deployment.delivered("identify")
    # THEN u1's later events wait for the retry, and u2's are published
    assert first.status_code == 503
    assert "SNS is unavailable" in answer_of(first)["message"]
    assert by_person(arrived) == {"u2": ids(u2)}
    # WHEN Segment retries THEN each person's events arrived in the order sent, every one of them once
    retried_until_acknowledged(api, body)
    assert by_person(arrived + deployment.delivered("identify")) == {"u1": ids(u1), "u2": ids(u2)}
