"""What Segment is told when SNS fails: 503 to retry a transient failure, 500 for a misconfiguration.

Never a 2xx unless SNS acknowledged; the answer always comes before Segment's
5-second timeout, even when SNS does not answer at all.
"""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.publisher import sns_client
from tests.aws import Deployment
from tests.conftest import Api, answer_of
from tests.faults import (
    ACCESS_DENIED,
    INTERNAL_ERROR,
    THROTTLED,
    TOPIC_NOT_FOUND,
    UNAVAILABLE,
    Fault,
    connection_reset,
    read_timeout,
    sns_publish_faults,
)

EVENT = {"type": "identify", "userId": "u1", "messageId": "m-1"}
SEGMENT_TIMEOUT_SECONDS = 5.0


def name(fault: Fault) -> str:
    return fault.__name__


@pytest.mark.parametrize("fault", [THROTTLED, INTERNAL_ERROR, UNAVAILABLE, connection_reset, read_timeout], ids=name)
def test_a_transient_failure_is_retried_and_the_event_published_once(
    api: Api, deployment: Deployment, fault: Fault
) -> None:
    # GIVEN SNS fails once, then recovers
    with sns_publish_faults(fault, fault) as pending:
        response = api.post(EVENT)
    # THEN the publish was retried within the request and Segment sees a 200
    assert pending == []
    assert response.status_code == 200
    assert [item.event["messageId"] for item in deployment.delivered("identify")] == ["m-1"]


@pytest.mark.parametrize("fault", [THROTTLED, INTERNAL_ERROR, UNAVAILABLE, connection_reset], ids=name)
def test_a_failure_that_outlasts_the_retries_is_a_503_and_nothing_is_published(
    api: Api, deployment: Deployment, fault: Fault
) -> None:
    with sns_publish_faults(*[fault] * 20):
        started = time.monotonic()
        response = api.post(EVENT)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "retry" in answer_of(response)["message"]
    assert elapsed < SEGMENT_TIMEOUT_SECONDS
    assert deployment.delivered_anywhere() == []


@pytest.mark.parametrize(("fault", "code"), [(TOPIC_NOT_FOUND, "NotFound"), (ACCESS_DENIED, "AuthorizationError")])
def test_a_missing_topic_or_denied_publish_is_a_500_without_retrying(
    api: Api, deployment: Deployment, fault: Fault, code: str
) -> None:
    with sns_publish_faults(fault, fault) as pending:
        response = api.post(EVENT)
    assert response.status_code == 500
    assert code in answer_of(response)["message"]
    assert len(pending) == 1, "a refusal that needs an operator is not retried"


def test_a_topic_that_does_not_exist_is_a_500(
    api: Api, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPIC_ARN_IDENTIFY", deployment.topics["identify"] + "-gone")
    response = api.post(EVENT)
    assert response.status_code == 500
    assert "NotFound" in answer_of(response)["message"]


@pytest.fixture
def silent_sns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An SNS endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", f"http://127.0.0.1:{listener.getsockname()[1]}")
    sns_client.cache_clear()
    yield
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()
    sns_client.cache_clear()


def test_an_sns_that_hangs_is_a_503_well_within_segments_timeout(
    api: Api, deployment: Deployment, silent_sns: None
) -> None:
    started = time.monotonic()
    response = api.post(EVENT)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "ReadTimeoutError" in answer_of(response)["message"]
    assert elapsed < SEGMENT_TIMEOUT_SECONDS - 0.5
