"""The events Segment sends, one marshmallow schema per type over the common fields.

Validation happens once, here, and what it returns is what consumers get: ids
as strings, containers as objects, `writeKey` gone, a `messageId` always
present, and every field nobody declared kept exactly as sent. The rules are
`docs/contract.md` §3; field names are already Segment's (see
`field_names`).
"""

import uuid
from typing import Any, ClassVar

from chalicelib.errors import BadRequest, UnhandledEventType
from chalicelib.marshmallow_import import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    missing,
    post_load,
    validate,
    validates_schema,
)

EVENT_TYPES = ("identify", "track", "page", "screen", "group", "alias", "delete")


class Id(fields.Field[str]):
    """An identifier: a string; an integer becomes its decimal string; null is absent."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        # Segment's own libraries send "anonymousId": null on identified events.
        if value is None:
            return missing
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ValidationError("must be a string or an integer")


class MessageId(Id):
    """Segment's deduplication key; generated when missing so every event has one."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None or value == "":
            return _new_message_id()
        return super().deserialize(value, attr, data, **kwargs)


class Container(fields.Field[dict[str, Any]]):
    """`traits`, `properties`, `context`, `integrations`: an object; null or [] is absent."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        # Published delete requests carry "context": null and "context": [].
        if value is None or value == []:
            return missing
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        raise ValidationError("must be an object")


class Removed(fields.Field[Any]):
    """Accepted from the sender and never published."""

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        return missing


def _kept(**kwargs: Any) -> fields.Raw:
    """A field kept exactly as sent, whatever its kind."""
    return fields.Raw(allow_none=True, **kwargs)


def _new_message_id() -> str:
    return str(uuid.uuid4())


class CommonEventSchema(Schema):
    """The fields any Segment event may carry, with the rules that hold for every type."""

    class Meta:
        # Events carry fields nobody can list in advance (`email`, `projectId`,
        # `_metadata`...); consumers get them untouched.
        unknown = INCLUDE

    type = fields.String(required=True)
    messageId = MessageId(load_default=_new_message_id)
    userId = Id()
    anonymousId = Id()
    previousId = Id()
    groupId = Id()
    event: fields.Field[Any] = _kept()
    name = _kept()
    category = _kept()
    traits = Container()
    properties = Container()
    context = Container()
    integrations = Container()
    # Time fields are kept as sent and never a reason to reject: a GDPR delete
    # must not be dropped for a malformed originalTimestamp.
    timestamp = _kept()
    originalTimestamp = _kept()
    sentAt = _kept()
    receivedAt = _kept()
    version = _kept()
    channel = _kept()
    # A Segment source credential: never passed on.
    writeKey = Removed()

    # Fields each type needs present and non-empty, and fields of which it needs at least one.
    required_fields: ClassVar[tuple[str, ...]] = ()
    required_one_of: ClassVar[tuple[str, ...]] = ()

    @validates_schema
    def _has_required_fields(self, event: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if self.required_one_of and not any(event.get(name) for name in self.required_one_of):
            errors[" or ".join(self.required_one_of)] = ["is required and must not be empty"]
        for name in self.required_fields:
            if not event.get(name):
                errors[name] = ["is required and must not be empty"]
        if errors:
            raise ValidationError(errors)

    @post_load(pass_original=True)
    def _in_sent_order(self, event: dict[str, Any], original: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Publish fields in the order they were sent (marshmallow puts unknown ones last)."""
        ordered = {key: event[key] for key in original if key in event}
        if "messageId" not in ordered:
            ordered["messageId"] = event["messageId"]
        return ordered


class _PersonEventSchema(CommonEventSchema):
    """Events about a person, known (`userId`) or not yet (`anonymousId`)."""

    required_one_of = ("userId", "anonymousId")


class IdentifySchema(_PersonEventSchema):
    """Who a person is: `traits` about them."""


class TrackSchema(_PersonEventSchema):
    """Something a person did: the `event` name and its `properties`."""

    event: fields.Field[Any] = fields.String(
        required=True,
        validate=validate.Length(min=1, error="must not be empty"),
        error_messages={"required": "is required", "null": "is required", "invalid": "must be a string"},
    )


class PageSchema(_PersonEventSchema):
    """A web page a person viewed."""


class ScreenSchema(_PersonEventSchema):
    """An app screen a person viewed."""


class GroupSchema(_PersonEventSchema):
    """A person joined a company or organization: `groupId`."""

    required_fields = ("groupId",)


class AliasSchema(CommonEventSchema):
    """One person's `previousId` is now `userId`."""

    required_fields = ("userId", "previousId")


class DeleteSchema(CommonEventSchema):
    """A GDPR/CCPA request to delete everything about `userId`."""

    required_fields = ("userId",)


SCHEMAS: dict[str, CommonEventSchema] = {
    "identify": IdentifySchema(),
    "track": TrackSchema(),
    "page": PageSchema(),
    "screen": ScreenSchema(),
    "group": GroupSchema(),
    "alias": AliasSchema(),
    "delete": DeleteSchema(),
}


def event_type(event: dict[str, Any]) -> str:
    """The event's type in lower case; a `BadRequest` if absent, `UnhandledEventType` if unknown."""
    sent = event.get("type")
    if sent is None or sent == "":
        raise BadRequest("type: is required")
    if not isinstance(sent, str):
        raise BadRequest("type: must be a string")
    lowered = sent.lower()
    if lowered not in SCHEMAS:
        raise UnhandledEventType(f"type: is not handled; it must be one of {', '.join(EVENT_TYPES)}")
    return lowered


def load_event(event: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalize an event whose fields already carry Segment's names."""
    type_ = event_type(event)
    try:
        loaded: dict[str, Any] = SCHEMAS[type_].load({**event, "type": type_})
    except ValidationError as error:
        raise BadRequest(describe(error.messages)) from None
    return loaded


def describe(messages: Any, prefix: str = "") -> str:
    """marshmallow's error tree as one line: "traits: must be an object; userId: ..."."""
    if isinstance(messages, dict):
        return "; ".join(describe(value, f"{prefix}{key}: ") for key, value in messages.items())
    if isinstance(messages, list):
        return "; ".join(describe(value, prefix) for value in messages)
    return f"{prefix}{messages}"
