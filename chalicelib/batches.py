"""The HTTP Tracking API's batch body: `{"batch": [...], "context"?, "integrations"?, "sentAt"?}`.

Segment's libraries (analytics-python, analytics-go, ...) post batches of up
to 500 KB. Batch-level `context` and `integrations` apply to every event, the
event's own keys winning, and a batch-level `sentAt` stands in for an event's
missing one, as Segment's own API does. Function and webhook senders post a
bare JSON array of events, which is read the same way.
"""

from dataclasses import dataclass
from typing import Any

from chalicelib.errors import BadRequest, PayloadTooLarge
from chalicelib.field_names import canonical_fields

MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_EVENTS = 2500
# The messages built from one batch, in total. The batch's context and
# integrations, and the settings, are copied into every event's message, so a
# small body can make hundreds of megabytes of them; legitimate batches make at
# most a few (2,500 events of 200 bytes, 1 KB of settings: ~3.7 MB). Beyond
# this, the batch is refused (413) before anything is claimed or published.
MAX_BATCH_MESSAGE_BYTES = 8 * 1024 * 1024
_SHARED = ("context", "integrations", "sentAt")


@dataclass(frozen=True)
class Batch:
    """The events of a batch, and the batch-level fields they share."""

    events: list[Any]
    shared: dict[str, Any]


def read_batch(body: Any) -> Batch:
    """The batch in a body; `BadRequest` when the body is not one, `PayloadTooLarge` over the event limit."""
    if isinstance(body, list):
        return Batch(_limited(body), {})
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object with a batch array, or an array of events")
    fields = canonical_fields(body)
    events = fields.get("batch")
    if not isinstance(events, list):
        raise BadRequest("batch: is required and must be an array of events")
    shared = {name: fields[name] for name in _SHARED if fields.get(name) is not None}
    for name in ("context", "integrations"):
        if name in shared and not isinstance(shared[name], dict):
            raise BadRequest(f"{name}: must be an object")
    return Batch(_limited(events), shared)


def with_batch_fields(event: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """An event (with Segment's field names) under the batch's fields: the event's own keys win."""
    merged = dict(event)
    for name, batch_value in shared.items():
        own = event.get(name)
        if name == "sentAt":
            if own is None:
                merged[name] = batch_value
        elif own is None or own == []:
            merged[name] = batch_value
        elif isinstance(own, dict):
            merged[name] = {**batch_value, **own}
    return merged


def _limited(events: list[Any]) -> list[Any]:
    if len(events) > MAX_BATCH_EVENTS:
        raise PayloadTooLarge(f"batch: {len(events)} events; at most {MAX_BATCH_EVENTS} are accepted per request")
    return events
