"""The HTTP Tracking API's other routes: /v1/<type>, gzip bodies, and what API Gateway hands Lambda."""

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from app import app
from tests import corpus
from tests.aws import Deployment
from tests.helpers import Api, answer_of
from tests.segment_rules import required_but_absent
from tools.lambda_events import gateway_event

TYPED: dict[str, dict[str, Any]] = {
    "identify": {"userId": "u1", "traits": {"plan": "pro"}},
    "track": {"userId": "u1", "event": "Signed Up"},
    "page": {"anonymousId": "a1", "name": "Home"},
    "screen": {"anonymousId": "a1", "name": "Settings"},
    "group": {"userId": "u1", "groupId": "g1"},
    "alias": {"userId": "u1", "previousId": "a1"},
}


@pytest.mark.parametrize("event_type", TYPED)
def test_a_typed_route_takes_events_without_a_type(api: Api, deployment: Deployment, event_type: str) -> None:
    response = api.post(TYPED[event_type], path=f"/v1/{event_type}")
    assert response.status_code == 200
    [delivered] = deployment.delivered(event_type)
    assert delivered.event["type"] == event_type
    assert delivered.attributes["type"] == event_type


def test_a_type_that_agrees_with_the_route_is_accepted_in_any_case(api: Api, deployment: Deployment) -> None:
    assert api.post({"Type": "Track", **TYPED["track"]}, path="/v1/track").status_code == 200
    assert deployment.delivered("track")[0].event["type"] == "track"


@pytest.mark.parametrize("sent", [{"type": "page"}, {"action": "page"}, {"type": 7}], ids=str)
def test_a_type_that_contradicts_the_route_is_a_400(api: Api, deployment: Deployment, sent: dict[str, object]) -> None:
    response = api.post({**TYPED["track"], **sent}, path="/v1/track")
    assert response.status_code == 400
    assert "contradicts the route" in answer_of(response)["message"]
    assert deployment.delivered_anywhere() == []


HTTP_API_BODIES = [path for path in corpus.files(batches=False) if "http-api" in path.name]


@pytest.mark.parametrize("path", HTTP_API_BODIES, ids=[path.stem for path in HTTP_API_BODIES])
def test_the_http_api_docs_bodies_are_accepted_on_their_routes(api: Api, deployment: Deployment, path: Path) -> None:
    event_type = path.name.split("-", 1)[0]
    body = json.loads(path.read_bytes())
    response = api.post(path.read_bytes(), path=f"/v1/{event_type}")
    assert required_but_absent(body, implied_type=event_type) is None
    assert response.status_code == 200, answer_of(response)
    [delivered] = deployment.delivered(event_type)
    assert "writeKey" not in delivered.event


GZIP_ROUTES = [
    ("/v1/segment", {"type": "identify", "userId": "u1"}, "identify"),
    ("/v1/identify", {"userId": "u1"}, "identify"),
    ("/v1/batch", {"batch": [{"type": "track", "userId": "u1", "event": "e"}]}, "track"),
]


@pytest.mark.parametrize(("path", "body", "topic"), GZIP_ROUTES, ids=[path for path, _, _ in GZIP_ROUTES])
def test_gzip_bodies_are_accepted_on_every_route(
    api: Api, deployment: Deployment, path: str, body: dict[str, Any], topic: str
) -> None:
    compressed = gzip.compress(json.dumps(body).encode())
    response = api.post(compressed, path=path, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert len(deployment.delivered(topic)) == 1


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"not gzip at all", 400, "gzip"),
        (gzip.compress(b'{"type":"identify","userId":"u1"}')[:-12], 400, "gzip"),
        (gzip.compress(b"{}") + b"trailing", 400, "gzip"),
        (gzip.compress(b" " * 20_000_000), 413, "decompressed"),
    ],
    ids=["not gzip", "truncated", "trailing bytes", "a 20 MB bomb"],
)
def test_bad_gzip_is_refused_without_decompressing_it_all(
    api: Api, deployment: Deployment, body: bytes, status: int, named: str
) -> None:
    response = api.post(body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == status
    assert named in answer_of(response)["message"]


def test_other_content_encodings_are_a_415(api: Api, deployment: Deployment) -> None:
    response = api.post({"type": "identify", "userId": "u1"}, headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert "Content-Encoding" in answer_of(response)["message"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_gzip_body_that_api_gateway_base64_encodes_is_decoded_and_answered_as_text_json(
    deployment: Deployment, accept: str | None
) -> None:
    # GIVEN what API Gateway hands the view's Lambda for a gzip body (a binary media type)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if accept is not None:
        headers["Accept"] = accept
    body = gzip.compress(json.dumps({"batch": [{"type": "identify", "userId": "u1"}]}).encode())
    # WHEN the Lambda handler runs
    result = app(gateway_event("/v1/batch", body, headers, account_id="1234", request_id="gw-request-1"), None)
    # THEN the answer is plain JSON text, whatever the Accept header
    assert result["statusCode"] == 200
    assert not result.get("isBase64Encoded")
    assert json.loads(result["body"]) == {"accepted": 1, "rejected": []}
    assert len(deployment.delivered("identify")) == 1


def test_application_json_reaches_lambda_as_binary_through_api_gateway() -> None:
    # API Gateway's wildcard matching makes gzip JSON bodies binary; Chalice's exact
    # matching keeps its own JSON answers text (tested above).
    assert "application/*" in app.api.binary_types
