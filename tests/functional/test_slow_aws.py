"""Slow rather than down: SNS and DynamoDB that take seconds to answer, or never do.

Whatever they do, every ingest route answers within Segment's 5 seconds of
the request's arrival, with a 503 that says how many events were published,
and Segment's retries finish the work without publishing anything twice.
"""

import contextlib
import functools
import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

import app as service
from chalicelib.dynamodb import (
    READ_TIMEOUT_SECONDS,
    USUAL_LEVEL,
    dynamodb_clients,
    dynamodb_patience,
    dynamodb_read_back_patience,
)
from chalicelib.process_cache import forget_all
from chalicelib.publisher import READ_TIMEOUT_SECONDS as SNS_READ_TIMEOUT_SECONDS
from chalicelib.publisher import sns_clients
from tests.aws import Deployment, basic_auth
from tests.faults import claims, hooked, receipts, waits_for
from tests.helpers import Api, answer_of, log_lines
from tools.lambda_events import LambdaContext, authorizer_event, gateway_event

SEGMENT_TIMEOUT_SECONDS = 5.0
PUBLISHED = re.compile(r"(?P<done>\d+) of \d+ events are published(?:.*; (?P<perhaps>\d+) perhaps published)?")
# Published, but their receipt was not written in time: sent again after the claim window, perhaps published again.
UNRECORDED = re.compile(r"(?P<unrecorded>\d+) published but not recorded")


@contextmanager
def slow(
    clients: list[Any],
    operations: tuple[str, ...],
    seconds: float,
    *,
    answered: bool = True,
    only: Callable[[dict[str, Any]], bool] = lambda params: True,
) -> Iterator[None]:
    """Each of the service's `operations` calls (those whose parameters `only` picks) is slow.

    With `answered`, AWS does the work and answers after `seconds`; a client
    whose read timeout is shorter gives up at its timeout, not knowing. Without
    it, the call never answers: the client gives up at its timeout, and AWS
    never did the work. `clients` are a service's clients at every patience
    level, each with its own timeout.
    """
    service = clients[0].meta.service_model.endpoint_prefix
    url = f"https://{service}.us-east-1.amazonaws.com"

    def picked(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        context["slow"] = only(params)

    def hang(context: dict[str, Any], timeout: float, **kwargs: Any) -> None:
        if context.get("slow"):
            time.sleep(timeout)
            raise ReadTimeoutError(endpoint_url=url)

    def answer_late(context: dict[str, Any], timeout: float, **kwargs: Any) -> None:
        if context.get("slow"):
            time.sleep(min(seconds, timeout))
            if seconds > timeout:
                raise ReadTimeoutError(endpoint_url=url)

    with contextlib.ExitStack() as stack:
        for client in clients:
            timeout = waits_for(client)
            late = functools.partial(answer_late if answered else hang, timeout=timeout)
            for operation in operations:
                stack.enter_context(hooked([client], f"before-parameter-build.{service}.{operation}", picked))
                when = "after-call" if answered else "before-call"
                stack.enter_context(hooked([client], f"{when}.{service}.{operation}", late))
        yield


def batch(count: int, prefix: str = "m") -> dict[str, Any]:
    kinds = ["identify", "page", "screen"]
    return {"batch": [{"type": kinds[n % 3], "userId": f"u{n}", "messageId": f"{prefix}-{n}"} for n in range(count)]}


def timed(api: Api, body: dict[str, Any]) -> tuple[Any, float]:
    started = time.monotonic()
    response = api.post(body, path="/v1/batch")
    return response, time.monotonic() - started


def test_a_large_batch_while_each_publish_takes_most_of_a_second_is_answered_in_time_and_finished_by_retries(
    deduplicating: tuple[Api, Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, deployment = deduplicating
    monkeypatch.setenv("DEDUP_CLAIM_SECONDS", "5")
    body = batch(2000)
    answers: list[tuple[int, float]] = []
    published: Counter[str] = Counter()
    perhaps_published = 0
    # GIVEN every PublishBatch takes 0.9 s
    with slow(sns_clients(), ("Publish", "PublishBatch"), 0.9):
        # WHEN Segment sends the batch, and again after each 503, when Retry-After says
        for _ in range(10):
            response, seconds = timed(api, body)
            answers.append((response.status_code, seconds))
            published.update(item.event["messageId"] for item in deployment.delivered_anywhere())
            if response.status_code == 200:
                break
            # THEN each 503 says how much is published (a call still running at the deadline may yet publish more)
            said = PUBLISHED.match(answer_of(response)["message"])
            assert said is not None, answer_of(response)
            assert int(said["done"]) <= len(published)
            perhaps_published += int(said["perhaps"] or 0)
            perhaps_published += sum(int(found["unrecorded"]) for found in UNRECORDED.finditer(said.string))
            time.sleep(int(response.headers["Retry-After"]) if said["perhaps"] else 0)
    # THEN every answer came in time, the last one a 200, and each event was published once, or twice at most if
    # SNS perhaps published it without answering in time, or its receipt was not written in time (unrecorded)
    assert all(seconds < SEGMENT_TIMEOUT_SECONDS for _, seconds in answers), answers
    assert answers[-1][0] == 200 and len(answers) > 1
    assert set(published) == {event["messageId"] for event in body["batch"]}
    assert published.total() - len(published) <= perhaps_published


def test_claims_that_never_answer_are_a_503_in_time_and_nothing_is_published(
    deduplicating: tuple[Api, Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    api, deployment = deduplicating
    # GIVEN no claim is ever answered
    with slow(
        dynamodb_clients(), ("PutItem", "BatchExecuteStatement"), READ_TIMEOUT_SECONDS, answered=False, only=claims
    ):
        response, seconds = timed(api, batch(300))
    # THEN the answer is in time, nothing is published, and the log says why
    assert (response.status_code, seconds < SEGMENT_TIMEOUT_SECONDS) == (503, True)
    [line] = log_lines(capsys.readouterr().out, "request")
    assert (line["published"], line["reason"]) == (0, "DedupUnavailable")
    assert deployment.delivered_anywhere() == []


def test_receipts_that_hang_still_answer_200_in_time_and_a_redelivery_waits(
    deduplicating: tuple[Api, Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    api, deployment = deduplicating
    # GIVEN the dedup table takes claims, but every write of a round's receipt hangs
    with slow(dynamodb_clients(), ("PutItem",), READ_TIMEOUT_SECONDS, answered=False, only=receipts):
        response, seconds = timed(api, batch(200))
    # THEN SNS has every event, so the answer is a 200, in time, which says they were not recorded, as the log does
    assert (response.status_code, seconds < SEGMENT_TIMEOUT_SECONDS) == (200, True)
    assert answer_of(response)["unrecorded"] == 200
    assert len(deployment.delivered_anywhere()) == 200
    [line] = log_lines(capsys.readouterr().out, "request")
    assert line["unrecorded"] == 200
    # WHEN the batch is delivered again at once: its claims hold it off, nothing is published twice
    again, _ = timed(api, batch(200))
    assert again.status_code == 503
    assert 1 <= int(again.headers["Retry-After"]) <= 30
    assert deployment.delivered_anywhere() == []


# Segment sends a batch of up to 2,500 events; `make fuzz` runs the progress cases at that size, where the
# emulator's own work, in the tests' process, is most of what a delivery takes.
PROGRESS_EVENTS = int(os.environ.get("PROGRESS_EVENTS", "1000"))
MAX_DELIVERIES = 40


def consistent_reads(params: dict[str, Any]) -> bool:
    return all(request.get("ConsistentRead") for request in params.get("RequestItems", {}).values())


def read_backs(params: dict[str, Any]) -> bool:
    """A batch sent again reads its records back with eventually consistent reads."""
    return not consistent_reads(params)


SlowCall = tuple[Callable[[], list[Any]], tuple[str, ...], float, Callable[[dict[str, Any]], bool]]
SLOW_CALLS: dict[str, SlowCall] = {
    "claims": (dynamodb_clients, ("BatchExecuteStatement", "PutItem"), READ_TIMEOUT_SECONDS + 0.1, claims),
    "read-back": (dynamodb_clients, ("BatchGetItem",), READ_TIMEOUT_SECONDS + 0.1, read_backs),
    "publishes": (sns_clients, ("Publish", "PublishBatch"), SNS_READ_TIMEOUT_SECONDS + 0.1, lambda params: True),
    "receipts": (dynamodb_clients, ("PutItem",), READ_TIMEOUT_SECONDS + 0.1, receipts),
}


@pytest.mark.parametrize("call", list(SLOW_CALLS))
def test_a_large_batch_gets_further_on_every_delivery_whichever_call_answers_just_past_its_timeout(
    deduplicating: tuple[Api, Deployment], call: str
) -> None:
    api, deployment = deduplicating
    clients, operations, seconds, only = SLOW_CALLS[call]
    body = batch(PROGRESS_EVENTS)
    # GIVEN a fifth of the batch was published by an earlier batch, so that sending it is sending it again
    assert api.post({"batch": body["batch"][: PROGRESS_EVENTS // 5]}, path="/v1/batch").status_code == 200
    published: Counter[str] = Counter(item.event["messageId"] for item in deployment.delivered_anywhere())
    answers: list[tuple[int, float, int]] = []
    perhaps = 0
    # WHEN every such call answers just after the client stopped waiting for it
    with slow(clients(), operations, seconds, only=only):
        # WHEN Segment sends the batch, and again after each 5xx; a claim window passes before the retry
        for _ in range(MAX_DELIVERIES):
            response, took = timed(api, body)
            published.update(item.event["messageId"] for item in deployment.delivered_anywhere())
            answers.append((response.status_code, took, len(published)))
            message = answer_of(response).get("message", "")
            perhaps += sum(int(found) for found in re.findall(r"(\d+) perhaps published", message))
            perhaps += sum(int(found["unrecorded"]) for found in UNRECORDED.finditer(message))
            perhaps += answer_of(response).get("unrecorded", 0)
            if response.status_code == 200:
                break
            deployment.expire_claims_in_progress()
    # THEN every answer came in time; each delivery published more (but the first to meet the slow call, which
    # spent part of its time on a timeout at the usual wait); the last was a 200, every event published, each
    # once, or twice at most where an answer said it was perhaps published
    assert all(took < SEGMENT_TIMEOUT_SECONDS for _, took, _ in answers), answers
    assert answers[-1][0] == 200, answers
    progress = [count for _, _, count in answers]
    assert all(later > earlier for earlier, later in itertools.pairwise(progress[1:])), answers
    assert set(published) == {event["messageId"] for event in body["batch"]}
    assert published.total() - len(published) <= perhaps, (answers, perhaps)


def test_a_slow_read_back_raises_its_own_wait_not_the_claims(deduplicating: tuple[Api, Deployment]) -> None:
    api, deployment = deduplicating
    body = batch(300)
    # GIVEN a batch published once, and sent again while its read-back answers just past its timeout
    assert api.post(body, path="/v1/batch").status_code == 200
    with slow(dynamodb_clients(), ("BatchGetItem",), READ_TIMEOUT_SECONDS + 0.1, only=read_backs):
        response = api.post(body, path="/v1/batch")
    # THEN the read-back waits longer from now on, while claims and receipts keep their usual wait, and nothing
    # is published twice
    assert response.status_code == 200
    assert dynamodb_read_back_patience().level() > USUAL_LEVEL
    assert dynamodb_patience().level() == USUAL_LEVEL
    assert len(deployment.delivered_anywhere()) == 300


# What API Gateway and the cold starts of both functions may add before the view starts.
COLD_STARTS_SECONDS = 1.0


def test_the_authorizer_and_the_view_together_answer_within_segments_5_seconds_of_arrival(
    deduplicating: tuple[Api, Deployment],
) -> None:
    api, _ = deduplicating
    body = json.dumps(batch(1500)).encode()
    headers = {"Content-Type": "application/json", "Authorization": basic_auth(api.key)}
    answers: list[tuple[int, float]] = []
    # GIVEN the key table answers just past its timeout on the authorizer's cache miss, and SNS takes most of
    # its timeout, so that the view publishes until the deadline lets it
    with (
        slow(dynamodb_clients(), ("GetItem",), READ_TIMEOUT_SECONDS + 0.1),
        slow(sns_clients(), ("PublishBatch",), SNS_READ_TIMEOUT_SECONDS - 0.1),
    ):
        for attempt in range(5):
            forget_all()  # a new container each time: its first calls meet the slow table at the usual timeout
            # WHEN API Gateway receives a batch, runs the authorizer, then the view, as it does, the two
            # functions starting cold (a second, here spent before the authorizer)
            arrived = time.time() - COLD_STARTS_SECONDS
            policy = service.api_key_authorizer(authorizer_event(api.key), LambdaContext())
            assert policy["context"]["account_id"] == "1234"
            event = gateway_event(
                "/v1/batch", body, headers, account_id="1234", request_id=f"gw-{attempt}", arrived_at=arrived
            )
            answer = service.app(event, LambdaContext())
            answers.append((answer["statusCode"], time.time() - arrived))
    # THEN every answer left within Segment's 5 seconds of the request's arrival, the authorizer's time included
    assert all(seconds < SEGMENT_TIMEOUT_SECONDS for _, seconds in answers), answers
