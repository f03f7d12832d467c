"""Segment's own, unmodified Python library sending straight to the service over real HTTP."""

from collections.abc import Callable
from typing import Any

import pytest
from segment.analytics import Client

from tests.e2e.conftest import DEMO_KEY, FaultyService, LocalRun


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


def test_the_librarys_retry_after_a_503_loses_no_event(faulty_service: FaultyService) -> None:
    # GIVEN SNS fails every attempt the service makes for the library's first batch
    faulty_service.proxy.fail("PublishBatch", times=5, status=503, code="ServiceUnavailable")
    errors: list[Exception] = []
    client = Client(write_key=DEMO_KEY, host=faulty_service.url, on_error=lambda error, batch: errors.append(error))
    # WHEN the library's background consumer sends, is answered 503, and retries
    _, message = client.track("u1", "Order Completed")
    client.flush()
    # THEN its retry is published, exactly once
    assert errors == []
    assert faulty_service.proxy.calls.count("PublishBatch") == 6
    assert faulty_service.published("track") == [message["messageId"]]
