"""One Segment event to the SNS message for it: names, validation, routing, envelope.

Every ingest route runs each event through `message_for`, so a single event,
each event of a batch and a webhook delivery are held to the same rules.
"""

from dataclasses import dataclass, field
from typing import Any

from chalicelib.batches import with_batch_fields
from chalicelib.errors import BadRequest
from chalicelib.field_names import canonical_fields
from chalicelib.messages import Message, build_message
from chalicelib.routing import topic_for
from chalicelib.schemas import load_event


@dataclass(frozen=True)
class Delivery:
    """What every event of one request shares.

    `implied_type` is the type a route's path names (`/v1/track`): its events
    may leave `type` out, and may not contradict it. `batch_fields` are a
    batch's shared `context`, `integrations` and `sentAt`.
    """

    account_id: str
    received_at: str
    settings: dict[str, Any]
    implied_type: str | None = None
    batch_fields: dict[str, Any] = field(default_factory=dict)


def message_for(raw_event: Any, delivery: Delivery) -> Message:
    """The message to publish for `raw_event`, or the `IngestError` that says why there is none."""
    if not isinstance(raw_event, dict):
        raise BadRequest("the event must be a JSON object")
    fields = canonical_fields(raw_event)
    if delivery.implied_type is not None:
        fields = _with_type(fields, delivery.implied_type)
    if delivery.batch_fields:
        fields = with_batch_fields(fields, delivery.batch_fields)
    event = load_event(fields)
    return build_message(topic_for(event["type"]), delivery.account_id, delivery.received_at, delivery.settings, event)


def _with_type(fields: dict[str, Any], implied_type: str) -> dict[str, Any]:
    sent = fields.get("type")
    if sent is None:
        return {"type": implied_type, **{name: value for name, value in fields.items() if name != "type"}}
    if not isinstance(sent, str) or sent.lower() != implied_type:
        raise BadRequest(f"type: contradicts the route, which takes {implied_type} events")
    return fields
