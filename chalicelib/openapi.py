"""This API's OpenAPI 3.1 document, generated from the marshmallow event schemas with apispec.

The event schemas are the ones requests are validated with, so the document
cannot drift from them; the routes are listed here and a test holds them to
the app's. Served unauthenticated at `GET /v1/openapi.json`.
"""

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import fields

from chalicelib.batches import MAX_BATCH_EVENTS
from chalicelib.schemas import EVENT_TYPES, SCHEMAS, CommonEventSchema, Container, Id, MessageId, Removed

TRACKING_API_TYPES = ("identify", "track", "page", "screen", "group", "alias")
# X-Segment-Settings: a string that is the base64 of a JSON object.
SETTINGS_FORMAT = "base64-json-object"
_ERROR = {"$ref": "#/components/schemas/Error"}
# An id that counts as present: not null, not empty.
_PRESENT_ID = {"type": ["string", "integer"], "minLength": 1}
_ERRORS = {
    "400": "Malformed JSON, or a field missing or of the wrong kind (named in the message); not retried",
    "401": "No, malformed or unknown credentials",
    "403": "A disabled API key",
    "413": "The body, or the SNS message built from it, is too large",
    "415": "The body is not declared as JSON (or uses an encoding other than gzip)",
    "429": "Over the stage's throttle, or the account's (its batches apart), answered by the gateway with"
    " Retry-After; Segment retries",
    "500": "A misconfiguration or a bug; nothing was published, Segment retries",
    "501": "An event type this deployment has no topic for",
    "503": "SNS or the dedup table unavailable, or the same messageId being published right now; Segment retries",
}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document, built once per process."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Emma's Segment destination",
        version="1",
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": "Segment events in, one SNS message per event out. The contract: docs/contract.md."},
        servers=[{"url": "https://events.e2ma.net"}],
    )
    converter: Any = plugin.converter
    converter.add_attribute_function(_segment_field_properties)
    _components(spec)
    _paths(spec)
    return spec.to_dict()


def _segment_field_properties(self: Any, field: fields.Field[Any], **kwargs: Any) -> dict[str, Any]:
    """JSON Schema for the schemas' own field kinds, which apispec cannot infer."""
    if isinstance(field, MessageId):
        return {"type": ["string", "integer", "null"], "description": "Generated when missing, null or empty"}
    if isinstance(field, Id):
        return {"type": ["string", "integer", "null"], "description": "An integer becomes its decimal string"}
    if isinstance(field, Container):
        return {"oneOf": [{"type": "object"}, {"type": "array", "maxItems": 0}, {"type": "null"}]}
    if isinstance(field, Removed):
        return {"writeOnly": True, "description": "Accepted and never published"}
    return {}


def _components(spec: APISpec) -> None:
    spec.components.security_scheme(
        "emmaApiKey",
        {"type": "http", "scheme": "basic", "description": "The Emma API key as the username, an empty password"},
    )
    spec.components.security_scheme(
        "webhookSignature",
        {"type": "apiKey", "in": "header", "name": "X-Signature", "description": "hex HMAC-SHA1 of the raw body"},
    )
    for event_type, schema in SCHEMAS.items():
        name = event_type.capitalize()
        spec.components.schema(f"{name}Event", schema=schema)
        _describe_requirements(spec, f"{name}Event", schema, event_type)
        if event_type in TRACKING_API_TYPES:
            on_its_route = f"{name}EventOnItsRoute"
            spec.components.schema(on_its_route, schema=type(schema)(partial=("type",)))
            _describe_requirements(spec, on_its_route, schema, event_type)
            # The route names the type: the event may leave it out, or send null.
            spec.components.schemas[on_its_route]["properties"]["type"] = {
                "type": ["string", "null"],
                "enum": [event_type, None],
            }
    spec.components.schema("Event", {"anyOf": [_event_ref(event_type) for event_type in EVENT_TYPES]})
    # Each item is validated on its own: one that is not a valid Event is listed in the
    # answer's `rejected`, and the rest are still published.
    item = {"description": "An Event; an invalid one is listed in the answer, not fatal"}
    events = {"type": "array", "items": item, "maxItems": MAX_BATCH_EVENTS}
    spec.components.schema(
        "Batch",
        {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["batch"],
                    "properties": {
                        "batch": events,
                        "context": {"type": ["object", "null"], "description": "Merged into each event's own"},
                        "integrations": {"type": ["object", "null"], "description": "Merged into each event's own"},
                        "sentAt": {"description": "For events without their own"},
                    },
                },
                events,
            ]
        },
    )
    spec.components.schema("Error", _object({"message": {"type": "string"}}))
    spec.components.schema("Accepted", _object({"messageId": {"type": "string"}}))
    rejection = _object(
        {"index": {"type": "integer"}, "status": {"type": "integer"}, "message": {"type": "string"}},
        optional={"messageId": {"type": "string"}},
    )
    spec.components.schema(
        "BatchAccepted", _object({"accepted": {"type": "integer"}, "rejected": {"type": "array", "items": rejection}})
    )


def _describe_requirements(spec: APISpec, name: str, schema: CommonEventSchema, event_type: str) -> None:
    """What the schema's validators require, in JSON Schema terms, and its canonical type."""
    generated = spec.components.schemas[name]
    generated["properties"]["type"]["enum"] = [event_type]
    generated["required"] = sorted({*generated.get("required", []), *schema.required_fields})
    for field_name in schema.required_fields:
        generated["properties"][field_name] = _PRESENT_ID
    if schema.required_one_of:
        generated["anyOf"] = [
            {"required": [field_name], "properties": {field_name: _PRESENT_ID}} for field_name in schema.required_one_of
        ]
    generated["description"] = (type(schema).__doc__ or "").strip()


def _paths(spec: APISpec) -> None:
    accepted = {"$ref": "#/components/schemas/Accepted"}
    spec.path(
        "/v1/segment",
        operations={"post": _ingest("One event, as Segment's direct destination delivers it", "Event", accepted)},
    )
    spec.path(
        "/v1/batch",
        operations={
            "post": _ingest(
                "A batch from Segment's libraries; invalid events are listed, not fatal",
                "Batch",
                {"$ref": "#/components/schemas/BatchAccepted"},
            )
        },
    )
    for event_type in TRACKING_API_TYPES:
        spec.path(
            f"/v1/{event_type}",
            operations={
                "post": _ingest(
                    f"One {event_type} event (HTTP Tracking API); `type` may be left out",
                    f"{event_type.capitalize()}EventOnItsRoute",
                    accepted,
                )
            },
        )
    webhook = _ingest("One event from Segment's Webhooks destination", "Event", accepted, security="webhookSignature")
    webhook["parameters"] = [{"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    webhook["responses"]["404"] = _response("Webhook mode is not enabled", _ERROR)
    spec.path("/v1/webhook/{account_id}", operations={"post": webhook})
    who = {
        "summary": "The account of the API key: a check that the key works",
        "security": [{"emmaApiKey": []}],
        "responses": {
            "200": _response("The key is active", _object({"accountId": {"type": "string"}})),
            "401": _response("No, malformed or unknown credentials", _ERROR),
            "403": _response("A disabled API key", _ERROR),
        },
    }
    spec.path("/v1/me", operations={"get": who})
    spec.path(
        "/v1/openapi.json",
        operations={"get": {"summary": "This document", "responses": {"200": _response("OpenAPI 3.1", {})}}},
    )
    _enable_with_segment_paths(spec)


def _enable_with_segment_paths(spec: APISpec) -> None:
    """The browser flow that creates the Emma destination in a customer's Segment workspace."""
    redirect = {
        "302": {
            "description": "To Segment's consent page, with a signed state and its cookie",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
        }
    }
    start = {**redirect, **_pages("400", "500")}
    spec.path(
        "/v1/segment/enable",
        operations={
            "get": {"summary": "Start, for the API key's account", "security": [{"emmaApiKey": []}], "responses": start}
        },
    )
    link = [_query(name) for name in ("account", "expires", "signature")]
    summary = "Start, with a short-lived link signed by the Emma app"
    spec.path(
        "/v1/segment/enable/link", operations={"get": {"summary": summary, "parameters": link, "responses": start}}
    )
    back = [_query(name) for name in ("code", "state", "error")]
    callback = {
        "summary": "Segment's redirect back: the destination is created or updated",
        "parameters": back,
        "responses": _pages("200", "400", "500", "502"),
    }
    spec.path("/v1/segment/enable/callback", operations={"get": callback})


def _pages(*statuses: str) -> dict[str, Any]:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {status: {"description": "A page saying what happened", "content": html} for status in statuses}


def _query(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}


def _ingest(summary: str, body_schema: str, ok: dict[str, Any], security: str = "emmaApiKey") -> dict[str, Any]:
    responses = {"200": _response("Published: SNS acknowledged every accepted event", ok)}
    responses.update({status: _response(description, _ERROR) for status, description in _ERRORS.items()})
    return {
        "summary": summary,
        "security": [{security: []}],
        "parameters": [
            {
                "name": "X-Segment-Settings",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "format": SETTINGS_FORMAT},
                "description": "base64 of a JSON object: the destination's settings",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body_schema}"}}},
        },
        "responses": responses,
    }


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(properties: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": {**properties, **(optional or {})},
        "additionalProperties": False,
    }


def _event_ref(event_type: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{event_type.capitalize()}Event"}
