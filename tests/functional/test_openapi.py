"""GET /v1/openapi.json: generated from the schemas, in step with the routes and with what is accepted."""

import json
from typing import Any

import pytest
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app import app
from chalicelib.openapi import document
from tests import corpus
from tests.segment_rules import required_but_absent, uses_segment_spelling


def event_validator(schema_name: str) -> Draft202012Validator:
    """A JSON Schema validator for one of the document's schemas, resolving its $refs."""
    doc = document()
    registry: Registry[Any] = Registry().with_resource("urn:openapi", DRAFT202012.create_resource(doc))
    reference = {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}
    return Draft202012Validator(reference, registry=registry)


def test_the_document_is_served_without_credentials(client: Client) -> None:
    response = client.http.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.body) == document()


def test_the_document_is_valid_openapi_3_1() -> None:
    assert document()["openapi"] == "3.1.0"
    validate(document())


def test_the_document_lists_exactly_the_apps_routes() -> None:
    routes = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, operations in document()["paths"].items() for method in operations}
    assert documented == routes


def test_routes_behind_the_api_key_authorizer_say_so() -> None:
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            security = document()["paths"][path][method.lower()].get("security", [])
            assert (security == [{"emmaApiKey": []}]) == (entry.authorizer is not None), path


ACCEPTED_CORPUS = [
    path for path in corpus.files(batches=False) if required_but_absent(json.loads(path.read_bytes())) is None
]


def test_every_corpus_event_the_service_accepts_fits_the_documented_event_schema() -> None:
    validator = event_validator("Event")
    misfits = {}
    for path in ACCEPTED_CORPUS:
        event = json.loads(path.read_bytes())
        if not uses_segment_spelling(event) or "type" not in event:
            continue  # the document speaks Segment's spelling; other spellings and "action" are tolerated
        errors = [error.message for error in validator.iter_errors(event)]
        if errors:
            misfits[path.name] = errors[:2]
    assert misfits == {}


@pytest.mark.parametrize(
    ("schema", "event"),
    [
        ("TrackEvent", {"type": "track", "userId": "u1"}),
        ("GroupEvent", {"type": "group", "userId": "u1"}),
        ("IdentifyEvent", {"type": "identify", "userId": None}),
        ("AliasEvent", {"type": "alias", "userId": "u1", "previousId": ""}),
        ("IdentifyEvent", {"type": "identify", "userId": "u1", "traits": "vip"}),
    ],
)
def test_the_documented_schemas_refuse_what_the_service_refuses(schema: str, event: dict[str, Any]) -> None:
    assert not event_validator(schema).is_valid(event)
