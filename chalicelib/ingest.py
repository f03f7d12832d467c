"""The ingest routes, from HTTP request to SNS: parse, validate, route, publish, answer.

Each handler runs under its request's one deadline, answers in Segment's
shape and writes one log line, whatever happens. Every event, alone or in a
batch or a webhook delivery, goes through `message_for` and is held to the
same rules; `outcomes.publish_once` then publishes each at most once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Request, Response

from chalicelib import request_parts, webhook
from chalicelib.batches import MAX_BATCH_BYTES, MAX_BATCH_MESSAGE_BYTES, read_batch, with_batch_fields
from chalicelib.deadline import Deadline, request_deadline
from chalicelib.errors import BadRequest, DeadlineReached, IngestError, MessageTooLarge, PayloadTooLarge
from chalicelib.field_names import canonical_fields, sent_value
from chalicelib.messages import MAX_MESSAGE_BYTES, Message, build_message, encoded_size, received_now, topic_for
from chalicelib.outcomes import Outcomes, publish_once
from chalicelib.request_log import RequestLog
from chalicelib.request_parts import SETTINGS_HEADER
from chalicelib.responses import answer, answered, error_answer
from chalicelib.schemas import load_event

Work = Callable[[RequestLog, Deadline], Response]
# The most of a messageId an answer or a log line quotes: Segment keeps its own under 100 characters
# (docs/contract.md §1), and a sender's longer one is not repeated whole, in answers or logs.
QUOTED_MESSAGE_ID_CHARS = 100


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


def handle_event(request: Request, implied_type: str | None = None) -> Response:
    """One event (`/v1/segment`, `/v1/<type>`): 200 only once SNS has acknowledged it."""
    return _answered(
        request,
        lambda log, deadline: _publish_event(request, log, deadline, request_parts.account_id(request), implied_type),
    )


def handle_webhook(request: Request, account_id: str) -> Response:
    """One event from Segment's Webhooks destination, signed with the account's shared secret."""

    def verified_then_published(log: RequestLog, deadline: Deadline) -> Response:
        webhook.verify(request, account_id, deadline)
        return _publish_event(request, log, deadline, account_id, None)

    return _answered(request, verified_then_published)


def handle_batch(request: Request) -> Response:
    """A batch from Segment's libraries: 200 once every valid event is published, listing the invalid ones."""
    return _answered(request, lambda log, deadline: _publish_batch(request, log, deadline))


def handle_who_am_i(request: Request) -> Response:
    """`GET /v1/me`: the account the authorizer found for the API key (docs/contract.md §5)."""
    return _answered(request, lambda log, deadline: _who_am_i(request, log))


def _who_am_i(request: Request, log: RequestLog) -> Response:
    account_id = request_parts.account_id(request)
    log.note(account_id=account_id)
    return answer(200, {"accountId": account_id})


def _answered(request: Request, work: Work) -> Response:
    """Run `work` under the request's one deadline, starting now; answer and log whatever happens."""
    deadline = request_deadline(request.lambda_context, request_parts.arrived_at(request))
    log = RequestLog("request", request_id=request_parts.request_id(request), route=request.path)

    def timed() -> Response:
        try:
            return work(log, deadline)
        finally:
            log.note(time_left_ms=round(deadline.remaining() * 1000))

    return answered(log, timed, error_answer)


def _publish_event(
    request: Request, log: RequestLog, deadline: Deadline, account_id: str, implied_type: str | None
) -> Response:
    received_at = received_now()
    log.note(account_id=account_id, body_bytes=len(request.raw_body))
    body = request_parts.json_object_body(request)
    delivery = Delivery(account_id, received_at, request_parts.settings(request), implied_type)
    message = message_for(body, delivery)
    message_id = quoted_message_id(message.message_id)
    log.note(type=message.event_type, message_id=message_id, message_bytes=message.size)
    outcomes = _publish_once([message], account_id, log, deadline)
    return answer(200, {"messageId": message_id, **_unrecorded(outcomes)})


def _publish_batch(request: Request, log: RequestLog, deadline: Deadline) -> Response:
    received_at = received_now()
    account_id = request_parts.account_id(request)
    log.note(account_id=account_id, body_bytes=len(request.raw_body))
    batch = read_batch(request_parts.json_body(request, MAX_BATCH_BYTES))
    delivery = Delivery(account_id, received_at, request_parts.settings(request), batch_fields=batch.shared)
    messages, rejected = _messages(batch.events, delivery, deadline)
    log.note(events=len(batch.events), invalid_events=len(rejected), message_bytes=sum(m.size for m in messages))
    outcomes = _publish_once(messages, account_id, log, deadline)
    return answer(200, {"accepted": len(messages), "rejected": rejected, **_unrecorded(outcomes)})


def _messages(events: list[Any], delivery: Delivery, deadline: Deadline) -> tuple[list[Message], list[dict[str, Any]]]:
    """The messages for a batch's valid events, and its invalid events as the answer lists them.

    A batch's context, integrations and settings are copied into each of its
    messages, so a small body can ask for minutes of work. Its shared fields
    are weighed first, once, and the batch refused whole (413) before any event
    is built if they alone are more than a message carries, or if their copies
    alone would be more than the cap on a batch's messages. The messages built
    are capped in total, those refused as too large counted too (building
    them was the work), and building stops at the deadline.
    """
    shared = _shared_bytes(delivery)
    _within_cap(shared * len(events))
    messages: list[Message] = []
    rejected: list[dict[str, Any]] = []
    total = 0
    for index, raw_event in enumerate(events):
        if deadline.remaining() <= 0:
            raise DeadlineReached("batch: its messages could not be built before Segment's timeout; retry later")
        try:
            message = message_for(raw_event, delivery)
        except MessageTooLarge as error:
            total = _within_cap(total + error.size)
            rejected.append(_rejection(index, raw_event, error))
            continue
        except IngestError as error:
            rejected.append(_rejection(index, raw_event, error))
            continue
        total = _within_cap(total + message.size)
        messages.append(message)
    return messages, rejected


def _shared_bytes(delivery: Delivery) -> int:
    """The bytes a batch's shared fields add to each event's message; `PayloadTooLarge` (413) naming the largest
    if together they are more than one message carries: every event's message would be refused, each after as
    much work as building it."""
    sizes = {SETTINGS_HEADER: encoded_size(delivery.settings)}
    sizes.update((name, encoded_size(value)) for name, value in delivery.batch_fields.items() if name != "sentAt")
    shared = sum(sizes.values())
    if shared > MAX_MESSAGE_BYTES:
        largest = max(sizes, key=lambda name: sizes[name])
        raise PayloadTooLarge(
            f"{largest}: the batch's context, integrations and {SETTINGS_HEADER} come to {shared} bytes, copied "
            f"into each event's message; SNS carries at most {MAX_MESSAGE_BYTES}"
        )
    return shared


def _within_cap(total: int) -> int:
    """`total`, the bytes of a batch's messages so far; `PayloadTooLarge` once it is beyond the cap."""
    if total > MAX_BATCH_MESSAGE_BYTES:
        raise PayloadTooLarge(
            f"batch: its messages would be more than {MAX_BATCH_MESSAGE_BYTES} bytes, its context, integrations "
            "and X-Segment-Settings copied into each event; send fewer events per batch"
        )
    return total


def _publish_once(messages: list[Message], account_id: str, log: RequestLog, deadline: Deadline) -> Outcomes:
    """Publish each event at most once by the deadline; raise, saying how many were published, unless all were."""
    outcomes = publish_once(messages, account_id, deadline)
    log.note(**outcomes.log_fields())
    error = outcomes.error()
    if error is not None:
        raise error
    return outcomes


def _unrecorded(outcomes: Outcomes) -> dict[str, int]:
    """What a 200 adds when some published events could not be recorded: a redelivery may publish them again."""
    return {"unrecorded": outcomes.unrecorded} if outcomes.unrecorded else {}


def _rejection(index: int, raw_event: Any, error: IngestError) -> dict[str, Any]:
    """How a batch answer names a refused event: its position, its messageId if it has one, why."""
    rejection: dict[str, Any] = {"index": index}
    message_id = sent_value(raw_event, "messageId") if isinstance(raw_event, dict) else None
    if isinstance(message_id, str | int) and not isinstance(message_id, bool):
        rejection["messageId"] = quoted_message_id(str(message_id))
    rejection.update(status=error.status_code, message=error.message)
    return rejection


def quoted_message_id(message_id: str) -> str:
    """A messageId as an answer or a log line quotes it: its first 100 characters, all of any Segment sends."""
    return message_id[:QUOTED_MESSAGE_ID_CHARS]


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
