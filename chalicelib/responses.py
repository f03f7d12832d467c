"""Every route's answer, and the one place where what stopped a request becomes one.

Ingest routes answer JSON in the shape Segment reads, `{"message": ...}` for
every error, and a 503 says when to retry; the Enable with Segment routes
answer HTML pages. Either way `answered` runs a route's work, turns a
`Refusal` into the route's answer for it and anything else into a 500, and
writes the request's one log line.
"""

from collections.abc import Callable
from typing import Any

from chalice.app import Response

from chalicelib.errors import IngestError, Refusal, Unavailable
from chalicelib.request_log import RequestLog

_JSON = {"Content-Type": "application/json"}
# What a bug is answered with: a 500, so that the sender keeps the event and retries it.
BUG = IngestError("internal error; nothing was published")


def answered(log: RequestLog, work: Callable[[], Response], render: Callable[[Refusal], Response]) -> Response:
    """`work`'s answer, or `render`'s for what stopped it (`BUG` for the unexpected); one log line either way."""
    try:
        response = work()
    except Refusal as refusal:
        log.note(error=refusal.detail, reason=type(refusal).__name__)
        response = render(refusal)
    except Exception as error:
        log.note_unexpected(error)
        response = render(BUG)
    log.write(status=response.status_code)
    return response


def answer(status_code: int, body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=status_code, headers=dict(_JSON))


def error_answer(refusal: Refusal) -> Response:
    """`{"message"}` with the refusal's status; a 503 also says when to retry."""
    response = answer(refusal.status_code, {"message": refusal.detail})
    if isinstance(refusal, Unavailable):
        response.headers["Retry-After"] = str(refusal.retry_after)
    return response
