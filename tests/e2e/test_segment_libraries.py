"""Segment's own, unmodified Python library sending straight to the service over real HTTP."""

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from segment.analytics import Client
from segment.analytics import request as segment_request

from chalicelib.deadline import MAX_ATTEMPTS
from tests.e2e.conftest import DEMO_KEY, FaultyService, LocalRun

SEGMENT_TIMEOUT_SECONDS = 5.0


def send_one_of_each(client: Client) -> dict[str, str]:
    """Identify, track, page, screen, group and alias through the library; their messageIds by type."""
    calls: dict[str, Callable[[], Any]] = {
        "identify": lambda: client.identify("u1", {"email": "peter@example.com"}),
        "track": lambda: client.track("u1", "Order Completed", {"total": 29.0}),
        "page": lambda: client.page("u1", "Docs", "Pricing", {"url": "https://example.com/pricing"}),
        "screen": lambda: client.screen("u1", "App", "Settings"),
        "group": lambda: client.group("u1", "g-42", {"name": "Initech"}),
        "alias": lambda: client.alias("a-77", "u1"),
    }
    message_ids = {}
    for event_type, call in calls.items():
        success, message = call()
        assert success
        message_ids[event_type] = message["messageId"]
    client.flush()
    return message_ids


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_the_python_library_delivers_every_call_type_with_its_own_message_ids(local_run: LocalRun, gzip: bool) -> None:
    for event_type in ("identify", "track", "page", "screen", "group", "alias"):
        local_run.published(event_type)  # what other tests left in the queues
    client = Client(write_key=DEMO_KEY, host=local_run.url, sync_mode=True, gzip=gzip)
    message_ids = send_one_of_each(client)
    for event_type, message_id in message_ids.items():
        assert local_run.published(event_type) == [message_id]


@pytest.fixture
def answer_times() -> Iterator[list[float]]:
    """How long each answer the library got took, from its request to the answer's headers."""
    times: list[float] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        times.append(response.elapsed.total_seconds())

    hooks = segment_request._session.hooks["response"]
    hooks.append(record)
    yield times
    hooks.remove(record)


def test_the_librarys_retry_after_a_503_loses_no_event(
    faulty_service: FaultyService, answer_times: list[float]
) -> None:
    # GIVEN SNS fails every attempt the service makes for the library's first batch
    faulty_service.proxy.fail("Publish", times=MAX_ATTEMPTS, status=503, code="ServiceUnavailable")
    errors: list[Exception] = []
    client = Client(write_key=DEMO_KEY, host=faulty_service.url, on_error=lambda error, batch: errors.append(error))
    # WHEN the library's background consumer sends, is answered 503, and retries after the Retry-After it was given
    _, message = client.track("u1", "Order Completed")
    client.flush()
    # THEN its retry is published, exactly once
    assert errors == []
    assert faulty_service.proxy.calls.count("Publish") == MAX_ATTEMPTS + 1
    assert faulty_service.published("track") == [message["messageId"]]
    assert len(answer_times) == 2


def test_batches_whose_sns_answers_come_too_late_lose_nothing_and_publish_nothing_more_than_twice(
    faulty_service: FaultyService, answer_times: list[float]
) -> None:
    # GIVEN SNS takes the first batch's messages but answers after the service's read timeout
    faulty_service.proxy.fail("PublishBatch", times=4, kind="late", delay=1.5)
    errors: list[Exception] = []
    client = Client(
        write_key=DEMO_KEY, host=faulty_service.url, upload_size=100, on_error=lambda error, _: errors.append(error)
    )
    # WHEN the library sends 300 events, in batches of 100, and retries what is answered 503
    sent = [client.track(f"u{n % 7}", "Order Completed", {"n": n})[1]["messageId"] for n in range(300)]
    client.flush()
    # THEN nothing is lost, no event is published more than twice, and every answer came within 5 s
    assert errors == []
    published = Counter(faulty_service.published("track"))
    assert set(published) == set(sent)
    assert max(published.values()) == 2
    assert max(answer_times) < SEGMENT_TIMEOUT_SECONDS
