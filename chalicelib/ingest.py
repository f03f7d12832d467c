"""Ingest routes from HTTP request to SNS: parse, validate, route, publish, answer.

Each handler answers in Segment's shape and writes one log line, whatever
happens: an `IngestError` becomes its status code, anything else a 500 so
that the sender keeps the event and retries it.
"""

from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response

from chalicelib import incoming, webhook
from chalicelib.answers import answer, error_answer
from chalicelib.batches import MAX_BATCH_BYTES, read_batch
from chalicelib.dedup import InProgress, deduplication
from chalicelib.errors import IngestError, PublishFailed, PublishUnavailable
from chalicelib.events import Delivery, message_for
from chalicelib.field_names import sent_value
from chalicelib.messages import Message, received_now
from chalicelib.publisher import BatchPublished, get_publisher
from chalicelib.request_log import RequestLog


def handle_event(request: Request, implied_type: str | None = None) -> Response:
    """One event (`/v1/segment`, `/v1/<type>`): 200 only once SNS has acknowledged it."""
    return _answered(request, lambda log: _publish_event(request, log, incoming.account_id(request), implied_type))


def handle_webhook(request: Request, account_id: str) -> Response:
    """One event from Segment's Webhooks destination, signed with the account's shared secret."""

    def verified_then_published(log: RequestLog) -> Response:
        webhook.verify(request, account_id)
        return _publish_event(request, log, account_id, None)

    return _answered(request, verified_then_published)


def handle_batch(request: Request) -> Response:
    """A batch from Segment's libraries: 200 once every valid event is published, listing the invalid ones."""
    return _answered(request, lambda log: _publish_batch(request, log))


def handle_who_am_i(request: Request) -> Response:
    """`GET /v1/me`: the account the authorizer found for the API key (docs/contract.md §5)."""
    return _answered(request, lambda log: _who_am_i(request, log))


def _who_am_i(request: Request, log: RequestLog) -> Response:
    account_id = incoming.account_id(request)
    log.note(account_id=account_id)
    return answer(200, {"accountId": account_id})


def _answered(request: Request, work: Callable[[RequestLog], Response]) -> Response:
    log = RequestLog("request", request_id=incoming.request_id(request), route=request.path)
    try:
        response = work(log)
    except IngestError as error:
        log.note(error=error.message, reason=type(error).__name__)
        response = error_answer(error)
    except Exception as error:
        # A bug, not a bad event: answered 500 so that the sender keeps retrying it.
        log.note_unexpected(error)
        response = answer(500, {"message": "internal error; nothing was published"})
    log.write(status=response.status_code)
    return response


def _publish_event(request: Request, log: RequestLog, account_id: str, implied_type: str | None) -> Response:
    received_at = received_now()
    log.note(account_id=account_id, body_bytes=len(request.raw_body))
    body = incoming.json_object_body(request)
    delivery = Delivery(account_id, received_at, incoming.settings(request), implied_type)
    message = message_for(body, delivery)
    log.note(type=message.event_type, message_id=message.message_id, message_bytes=message.size)
    with deduplication().exclusively(account_id, message.message_id) as first_delivery:
        if first_delivery:
            _publish(message, log)
        else:
            log.note(duplicate=True)
    return answer(200, {"messageId": message.message_id})


def _publish(message: Message, log: RequestLog) -> None:
    published = get_publisher().publish(message)
    log.note(attempts=published.attempts, publish_ms=_milliseconds(published.seconds))


def _publish_batch(request: Request, log: RequestLog) -> Response:
    received_at = received_now()
    account_id = incoming.account_id(request)
    log.note(account_id=account_id, body_bytes=len(request.raw_body))
    batch = read_batch(incoming.json_body(request, MAX_BATCH_BYTES))
    delivery = Delivery(account_id, received_at, incoming.settings(request), batch_fields=batch.shared)
    messages: list[Message] = []
    rejected: list[dict[str, Any]] = []
    for index, raw_event in enumerate(batch.events):
        try:
            messages.append(message_for(raw_event, delivery))
        except IngestError as error:
            rejected.append(_rejection(index, raw_event, error))
    log.note(events=len(batch.events), invalid_events=len(rejected))
    _publish_once(messages, account_id, log)
    return answer(200, {"accepted": len(messages), "rejected": rejected})


def _publish_once(messages: list[Message], account_id: str, log: RequestLog) -> None:
    """Publish a batch's valid events, each at most once with a dedup table; raise unless all are published."""
    dedup = deduplication()
    claim = dedup.claim_batch(account_id, [message.message_id for message in messages])
    published = get_publisher().publish_batch([messages[position] for position in claim.new])
    dedup.settle(claim, {claim.new[index] for index in (*published.unavailable, *published.refused)})
    log.note(duplicates=claim.duplicates, in_progress=claim.busy, attempts=published.attempts)
    _raise_for_unpublished(published, len(claim.new))
    if claim.busy:
        raise InProgress(f"{claim.busy} events are being published by another delivery; retry later")
    log.note(published=len(claim.new), publish_ms=_milliseconds(published.seconds))


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _rejection(index: int, raw_event: Any, error: IngestError) -> dict[str, Any]:
    """How a batch answer names a refused event: its position, its messageId if it has one, why."""
    rejection: dict[str, Any] = {"index": index}
    message_id = sent_value(raw_event, "messageId") if isinstance(raw_event, dict) else None
    if isinstance(message_id, str | int) and not isinstance(message_id, bool):
        rejection["messageId"] = str(message_id)
    rejection.update(status=error.status_code, message=error.message)
    return rejection


def _raise_for_unpublished(published: BatchPublished, total: int) -> None:
    """A batch with any valid event SNS did not take is not acknowledged: the sender retries it whole."""
    if published.refused:
        reasons = ", ".join(sorted(set(published.refused.values())))
        raise PublishFailed(f"{len(published.refused)} of {total} events were refused by SNS: {reasons}")
    if published.unavailable:
        reason = next(iter(published.unavailable.values()))
        raise PublishUnavailable(f"{len(published.unavailable)} of {total} events were not published: {reason}")
