"""One Segment event, from HTTP request to SNS: parse, validate, route, publish, answer."""

from chalice.app import Request, Response

from chalicelib import incoming
from chalicelib.answers import answer, error_answer
from chalicelib.errors import IngestError
from chalicelib.field_names import canonical_fields
from chalicelib.messages import build_message, received_now
from chalicelib.publisher import get_publisher
from chalicelib.request_log import RequestLog
from chalicelib.routing import topic_for
from chalicelib.schemas import load_event


def handle_event(request: Request) -> Response:
    """Segment's answer for one event; 200 only once SNS has acknowledged it."""
    log = RequestLog("request", request_id=incoming.request_id(request), route=request.path)
    try:
        response = _publish_event(request, log)
    except IngestError as error:
        log.note(error=error.message, reason=type(error).__name__)
        response = error_answer(error)
    except Exception as error:
        # A bug, not a bad event: answered 500 so that Segment keeps retrying it.
        log.note_unexpected(error)
        response = answer(500, {"message": "internal error; the event was not published"})
    log.write(status=response.status_code)
    return response


def _publish_event(request: Request, log: RequestLog) -> Response:
    received_at = received_now()
    account_id = incoming.account_id(request)
    log.note(account_id=account_id, body_bytes=len(request.raw_body))
    body = incoming.json_object_body(request)
    settings = incoming.settings(request)
    event = load_event(canonical_fields(body))
    log.note(type=event["type"], message_id=event["messageId"])
    message = build_message(topic_for(event["type"]), account_id, received_at, settings, event)
    log.note(message_bytes=message.size)
    published = get_publisher().publish(message)
    log.note(attempts=published.attempts, publish_ms=round(published.seconds * 1000, 3))
    return answer(200, {"messageId": event["messageId"]})
