"""Bodies that ask for much work from little input: each answered within a CPU budget, whatever it asks.

A batch's context, integrations and settings are copied into every event's
message, so a body of 500 KB can ask for hundreds of megabytes of JSON. Every
body `/v1/batch` accepts (≤ 500 KB, ≤ 2,500 events) is answered within a second
of CPU here, measured with `time.process_time()` around the request.
"""

import base64
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

import app as service
from chalicelib.batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from chalicelib.publisher import sns_clients
from tests.aws import Deployment, basic_auth
from tests.faults import hooked
from tests.helpers import Api, answer_of
from tools.lambda_events import LambdaContext, gateway_event

CPU_BUDGET_SECONDS = 1.0
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10")) // 10 or 1


def tiny_events(count: int, **fields: Any) -> list[dict[str, Any]]:
    """Events of 30 bytes or so: their messageIds are generated."""
    return [{"type": "identify", "userId": "u", **fields} for _ in range(count)]


def many_keys(count: int) -> dict[str, int]:
    """An object of `count` keys of about 8 bytes each, as JSON."""
    return {f"{n:x}": 0 for n in range(count)}


def compact(body: dict[str, Any]) -> bytes:
    """The body as a sender packs it, within what `/v1/batch` accepts."""
    encoded = json.dumps(body, separators=(",", ":")).encode()
    assert len(encoded) <= MAX_BATCH_BYTES
    assert len(body["batch"]) <= MAX_BATCH_EVENTS
    return encoded


BEYOND_A_MESSAGE = "the batch's context, integrations and X-Segment-Settings come to"
BEYOND_THE_CAP = "its messages would be more than"
# Shared fields that make every message more than SNS carries, or whose copies alone are more than the cap on a
# batch's messages: each refused whole, before any event is built; the answer names the field.
REFUSED_AT_ONCE: list[tuple[str, dict[str, Any], str]] = [
    (
        "2,500 events under a context of 40,000 small keys",
        {"batch": tiny_events(2500), "context": many_keys(40_000)},
        f"context: {BEYOND_A_MESSAGE}",
    ),
    (
        "300 events under a context of 50,000",
        {"batch": tiny_events(300), "context": many_keys(50_000)},
        f"context: {BEYOND_A_MESSAGE}",
    ),
    (
        "a context that is one long string",
        {"batch": tiny_events(2000), "context": {"s": "x" * 300_000}},
        f"context: {BEYOND_A_MESSAGE}",
    ),
    (
        "a context of non-ASCII text",
        {"batch": tiny_events(2000), "context": {"s": "\u00e9" * 60_000}},
        f"context: {BEYOND_A_MESSAGE}",
    ),
    (
        "integrations of many keys",
        {"batch": tiny_events(2000), "integrations": many_keys(40_000)},
        f"integrations: {BEYOND_A_MESSAGE}",
    ),
    (
        "a context just within a message, 2,500 times",
        {"batch": tiny_events(2500), "context": many_keys(26_000)},
        f"batch: {BEYOND_THE_CAP}",
    ),
    (
        "each event with a context of its own, merged under that one",
        {"batch": tiny_events(2500, context={"own": 1}), "context": many_keys(26_000)},
        f"batch: {BEYOND_THE_CAP}",
    ),
]


@contextmanager
def sns_taking_every_message() -> Iterator[None]:
    """SNS answered by a hook at once, every message taken: the CPU measured is the service's, not the emulator's
    (moto runs in this process, and would bill its own work to the request)."""

    def note(params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        context["ids"] = [entry["Id"] for entry in params["PublishBatchRequestEntries"]]

    def take(context: dict[str, Any], **kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        taken = [{"Id": entry, "MessageId": f"sns-{entry}"} for entry in context["ids"]]
        answer = {"Successful": taken, "Failed": [], "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://sns.us-east-1.amazonaws.com/", 200, {}, None), answer  # type: ignore[arg-type]

    with (
        hooked(sns_clients(), "before-parameter-build.sns.PublishBatch", note),
        hooked(sns_clients(), "before-call.sns.PublishBatch", take),
    ):
        yield


def cpu_of(api: Api, body: dict[str, Any], **headers: str) -> tuple[Any, float]:
    started = time.process_time()
    response = api.post(compact(body), path="/v1/batch", headers=headers)
    return response, time.process_time() - started


@pytest.mark.parametrize(
    ("body", "refusal"),
    [(body, refusal) for _, body, refusal in REFUSED_AT_ONCE],
    ids=[c for c, _, _ in REFUSED_AT_ONCE],
)
def test_shared_fields_that_would_make_too_much_are_a_413_naming_the_field_before_any_event_is_built(
    api: Api, deployment: Deployment, body: dict[str, Any], refusal: str
) -> None:
    # WHEN a batch's shared fields alone make every message, or all of them, more than the service carries
    response, cpu = cpu_of(api, body)
    # THEN it is refused whole, naming the field, within half the budget (most of it reading the body), and nothing
    # is published
    assert response.status_code == 413
    assert answer_of(response)["message"].startswith(refusal)
    assert cpu < CPU_BUDGET_SECONDS / 2, cpu
    assert deployment.delivered_anywhere() == []


def test_settings_that_leave_no_room_for_the_events_are_named(api: Api, deployment: Deployment) -> None:
    # GIVEN settings of 24 KB and a batch context that, with them, is more than a message
    header = base64.b64encode(json.dumps({"pad": "x" * 24_000}).encode()).decode()
    body = {"batch": tiny_events(10), "context": {"s": "x" * 240_000}}
    # THEN the answer names the largest of the shared fields
    response, _ = cpu_of(api, body, **{"X-Segment-Settings": header})
    assert response.status_code == 413
    assert answer_of(response)["message"].startswith("context:")


def test_messages_refused_as_too_large_count_toward_the_batch_cap(api: Api, deployment: Deployment) -> None:
    # GIVEN 34 events each just too large under a 240 KB batch context (their own non-ASCII text, 2 bytes a
    # character in the body, escaped to 6 in a message), whose copies alone are within the cap
    body = {"batch": tiny_events(34, context={"own": "\u00e9" * 3_800}), "context": {"s": "x" * 240_000}}
    encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(encoded) <= MAX_BATCH_BYTES
    # WHEN it is sent
    response = api.post(encoded, path="/v1/batch")
    # THEN the work of building the refused messages counts: the cap binds, and nothing is published
    assert response.status_code == 413
    assert answer_of(response)["message"].startswith(f"batch: {BEYOND_THE_CAP}")
    assert deployment.delivered_anywhere() == []


def test_building_a_batchs_messages_stops_at_the_deadline(api: Api, deployment: Deployment) -> None:
    # GIVEN a batch that reaches the view when Segment's time for it is already spent (it arrived 4.5 s ago)
    body = compact({"batch": tiny_events(500)})
    headers = {"Content-Type": "application/json", "Authorization": basic_auth(api.key)}
    event = gateway_event(
        "/v1/batch", body, headers, account_id="1234", request_id="gw-late", arrived_at=time.time() - 4.5
    )
    # WHEN the view serves it
    answer = service.app(event, LambdaContext())
    # THEN no message is built, let alone published: a 503 that says so, and when to retry
    assert answer["statusCode"] == 503
    assert "Retry-After" in answer["headers"]
    assert json.loads(answer["body"])["message"].startswith("batch: its messages could not be built before")
    assert deployment.delivered_anywhere() == []


@st.composite
def costly_batches(draw: st.DrawFn) -> dict[str, Any]:
    """Batches shaped for work: many events, a shared context of many keys or long strings, own contexts."""
    keys = draw(st.integers(0, 60_000))
    events = draw(st.integers(1, MAX_BATCH_EVENTS))
    own = draw(st.sampled_from([None, {"own": 1}, many_keys(20)]))
    text = draw(st.sampled_from(["", "x" * 1000, "\u00e9" * 1000, "\U0001f600" * 500]))
    context: dict[str, Any] = {**many_keys(keys), "t": text}
    batch = tiny_events(events) if own is None else tiny_events(events, context=own)
    body: dict[str, Any] = {"batch": batch, "context": context}
    while len(json.dumps(body, separators=(",", ":"))) > MAX_BATCH_BYTES:
        body["batch"] = body["batch"][: len(body["batch"]) // 2]
        if len(body["batch"]) == 1:
            body["context"] = {"t": text}
    return body


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=costly_batches())
# Accepted, and all the work the caps allow: 2,000 events, each with a context of its own merged under 3 KB of
# the batch's, near 6 MB of messages built and published.
@example(body={"batch": tiny_events(2000, context=many_keys(12)), "context": many_keys(330)})
def test_no_accepted_body_costs_more_than_the_cpu_budget(shared_api: tuple[Api, Deployment], body: Any) -> None:
    api, _ = shared_api
    with sns_taking_every_message():
        response, cpu = cpu_of(api, body)
    target(cpu, label="CPU seconds")
    assert response.status_code in (200, 413), answer_of(response)
    assert cpu < CPU_BUDGET_SECONDS, (cpu, len(body["batch"]), len(body["context"]))
