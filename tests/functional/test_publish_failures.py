"""What Segment is told when SNS fails: 503 to retry a transient failure, 500 for a misconfiguration.

Never a 2xx unless SNS acknowledged; the answer always comes before Segment's
5-second timeout, even when SNS does not answer at all. A publish whose answer
was lost may have been published, so on a standard topic it is not retried.
"""

import time
from collections.abc import Iterator

import pytest
from chalice.test import Client

from chalicelib.process_cache import forget_all
from tests.aws import Deployment
from tests.faults import (
    ACCESS_DENIED,
    INTERNAL_ERROR,
    THROTTLED,
    TOPIC_NOT_FOUND,
    UNAVAILABLE,
    Fault,
    connection_reset,
    not_connected,
    read_timeout,
    silent_endpoint,
    sns_publish_faults,
)
from tests.helpers import Api, answer_of, configure

EVENT = {"type": "identify", "userId": "u1", "messageId": "m-1"}
SEGMENT_TIMEOUT_SECONDS = 5.0


def name(fault: Fault) -> str:
    return fault.__name__


@pytest.mark.parametrize("fault", [THROTTLED, INTERNAL_ERROR, UNAVAILABLE, not_connected], ids=name)
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


@pytest.mark.parametrize("fault", [THROTTLED, INTERNAL_ERROR, UNAVAILABLE, not_connected], ids=name)
def test_a_failure_that_outlasts_the_retries_is_a_503_and_nothing_is_published(
    api: Api, deployment: Deployment, fault: Fault
) -> None:
    with sns_publish_faults(*[fault] * 20):
        started = time.monotonic()
        response = api.post(EVENT)
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "retry" in answer_of(response)["message"]
    assert response.headers["Retry-After"] == "5"
    assert elapsed < SEGMENT_TIMEOUT_SECONDS
    assert deployment.delivered_anywhere() == []


@pytest.mark.parametrize("fault", [read_timeout, connection_reset], ids=name)
def test_a_publish_whose_answer_was_lost_is_not_retried_on_a_standard_topic(
    api: Api, deployment: Deployment, fault: Fault
) -> None:
    # GIVEN SNS's answer to the first Publish is lost
    with sns_publish_faults(fault, fault) as pending:
        response = api.post(EVENT)
    # THEN it is not sent again in the request, and Segment is told to retry later
    assert len(pending) == 1, "a publish that may have reached SNS is not retried"
    assert response.status_code == 503
    assert answer_of(response)["message"].startswith("the event is perhaps published: SNS did not answer")
    assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize("fault", [read_timeout, connection_reset], ids=name)
def test_a_publish_whose_answer_was_lost_is_retried_on_a_fifo_topic_which_drops_repeats(
    client: Client, aws: None, monkeypatch: pytest.MonkeyPatch, fault: Fault
) -> None:
    deployment = Deployment(fifo=True)
    deployment.add_topics()
    configure(monkeypatch, deployment)
    with sns_publish_faults(fault) as pending:
        response = Api(client, deployment.create_key()).post(EVENT)
    assert (pending, response.status_code) == ([], 200)
    assert [item.event["messageId"] for item in deployment.delivered("identify")] == ["m-1"]


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
    with silent_endpoint() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", url)
        forget_all()
        yield
    forget_all()


def test_an_sns_that_hangs_is_a_503_well_within_segments_timeout(
    api: Api, deployment: Deployment, silent_sns: None
) -> None:
    started = time.monotonic()
    response = api.post(EVENT)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert "ReadTimeoutError" in answer_of(response)["message"]
    assert elapsed < SEGMENT_TIMEOUT_SECONDS - 0.5
