"""Property-based fuzzing of bodies and headers through the real app (hypothesis).

Whatever arrives: no 5xx but a 501 for a type without a topic (no SNS fault is
injected here), nothing published unless the answer is 200, and every error
body exactly `{"message": "..."}`. FUZZ_EXAMPLES sets the number of examples
(a few hundred here; `make fuzz` runs tens of thousands).
"""

import base64
import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from app import app
from chalicelib.process_cache import forget_all
from tests.aws import Deployment, basic_auth

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
TYPES = ["identify", "track", "page", "screen", "group", "alias", "delete"]
FIELD_SPELLINGS = {
    "type": ["type", "Type", "TYPE", "action"],
    "userId": ["userId", "user_id", "User ID", "USERID"],
    "anonymousId": ["anonymousId", "anonymous_id"],
    "messageId": ["messageId", "message_id", "Message-ID"],
    "previousId": ["previousId", "Previous ID"],
    "groupId": ["groupId", "group_id"],
    "event": ["event", "Event"],
    "traits": ["traits", "Traits"],
    "properties": ["properties"],
    "context": ["context"],
    "timestamp": ["timestamp", "originalTimestamp", "sentAt"],
}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
ids = st.one_of(st.text(max_size=12), st.integers(), st.none(), st.booleans(), st.floats(), json_values)
field_values = {
    "type": st.sampled_from(TYPES) | st.sampled_from([t.upper() for t in TYPES]) | json_scalars,
    "event": st.text(max_size=12) | json_scalars,
    "traits": json_values,
    "properties": json_values,
    "context": json_values,
    "timestamp": st.text(max_size=30) | json_scalars,
}


REQUIRED = {
    "identify": {"userId": "u1"},
    "track": {"userId": "u1", "event": "Signed Up"},
    "page": {"anonymousId": "a1"},
    "screen": {"anonymousId": "a1"},
    "group": {"userId": "u1", "groupId": "g1"},
    "alias": {"userId": "u1", "previousId": "a1"},
    "delete": {"userId": "u1"},
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Segment-like events: the envelope's fields, under any spelling, of any kind, plus anything else.

    Half start from an event that has what its type requires, so that accepted paths are explored too.
    """
    event: dict[str, Any] = {}
    if draw(st.booleans()):
        event_type = draw(st.sampled_from(TYPES))
        event = {"type": event_type, **REQUIRED[event_type]}
    for field, spellings in FIELD_SPELLINGS.items():
        if draw(st.integers(0, 9)) == 0:
            event[draw(st.sampled_from(spellings))] = draw(field_values.get(field, ids))
    event.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3)))
    return event


def mostly(usual: Any, *others: Any) -> st.SearchStrategy[Any]:
    """`usual` four times in five, else one of `others`."""
    return st.sampled_from([usual] * 4 * len(others) + list(others))


def encoded(value: Any) -> bytes:
    """JSON text, but as Python writes it: NaN and Infinity come out as the literals JSON forbids."""
    return json.dumps(value).encode()


bodies = st.one_of(
    events().map(encoded),
    events().map(encoded),
    st.lists(events(), max_size=5).map(lambda batch: encoded({"batch": batch})),
    json_values.map(encoded),
    st.binary(max_size=200),
    events().map(lambda event: encoded(event)[: len(encoded(event)) // 2]),
)
setting_headers = st.one_of(
    json_values.map(lambda value: base64.b64encode(encoded(value)).decode()),
    st.text(max_size=40),
)
headers = st.fixed_dictionaries(
    {
        "content-type": mostly("application/json", "application/json; charset=utf-8", "text/plain", ""),
        "x-segment-settings": st.one_of(st.none(), st.none(), st.none(), setting_headers),
        "content-encoding": mostly(None, "gzip", "br", "identity"),
        "accept": st.sampled_from([None, "*/*", "application/json", "text/html"]),
    }
)
routes = st.sampled_from(["/v1/segment", "/v1/batch", "/v1/track", "/v1/identify", "/v1/alias"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Deployment, str]]:
    """The app with every type routed to one default topic, so one queue shows anything published."""
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        forget_all()
        deployment = Deployment()
        deployment.add_topic("default")
        for name, value in deployment.environment().items():
            monkeypatch.setenv(name, value)
        for variable in [name for name in os.environ if name.startswith("TOPIC_ARN_") and name != "TOPIC_ARN_DEFAULT"]:
            monkeypatch.delenv(variable)
        yield Client(app, project_dir=str(tmp_path_factory.mktemp("fuzz"))), deployment, deployment.create_key()
    forget_all()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=routes, body=bodies, sent=headers, compress=st.booleans())
def test_no_input_causes_a_5xx_a_publish_without_a_200_or_an_error_in_another_shape(
    service: tuple[Client, Deployment, str], route: str, body: bytes, sent: dict[str, Any], compress: bool
) -> None:
    client, deployment, key = service
    request_headers = {name: value for name, value in sent.items() if value is not None}
    request_headers["authorization"] = basic_auth(key)
    if compress and sent["content-encoding"] == "gzip":
        body = gzip.compress(body)

    response = client.http.post(route, headers=request_headers, body=body)

    answer = json.loads(response.body)
    event(f"{route} {response.status_code} {str(answer.get('message', ''))[:50]}")
    published = deployment.delivered("default")
    assert response.status_code < 500 or response.status_code == 501, answer
    if response.status_code != 200:
        assert published == []
        assert set(answer) == {"message"} and isinstance(answer["message"], str) and answer["message"]
    elif route == "/v1/batch":
        assert len(published) == answer["accepted"]
    else:
        assert [item.event["messageId"] for item in published] == [answer["messageId"]]
