"""Segment's own, unmodified Python library sending straight to the service over real HTTP."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from segment.analytics import Client

from chalicelib.keys import KeyStore
from tests.e2e.conftest import DEMO_KEY, LocalRun, free_port, published_message_ids
from tests.faultproxy import FaultProxy
from tools.provision import provision, stage_environment
from tools.run_local import chalice_local, emulator, wait_until_answering


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


@dataclass(frozen=True)
class FaultyService:
    url: str
    proxy: FaultProxy
    aws_endpoint: str

    def published(self, event_type: str) -> list[str]:
        return published_message_ids(self.aws_endpoint, event_type)


@pytest.fixture
def faulty_service() -> Iterator[FaultyService]:
    """`chalice local` whose AWS calls pass through a fault-injecting proxy in front of moto."""
    with emulator(free_port()) as moto:
        environment = stage_environment("local")
        provision(environment, endpoint_url=moto)
        KeyStore(boto3.client("dynamodb", endpoint_url=moto), environment["API_KEYS_TABLE"]).create("1001", DEMO_KEY)
        with FaultProxy(moto).running() as proxy:
            port = free_port()
            with chalice_local(port, proxy.url) as service:
                url = f"http://127.0.0.1:{port}"
                assert wait_until_answering(url, service)
                yield FaultyService(url, proxy, moto)


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
