"""Why an event was not accepted, as exceptions that carry Segment's status code.

Segment retries 429 and 5xx for hours and drops every other 4xx, so each class
below is a decision about retrying: a 4xx says "this can never succeed", a 5xx
says "try again later". The status is chosen here, by class, and nowhere else.
"""


class IngestError(Exception):
    """An event that is answered with an error; `message` is safe to show the sender."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IngestError):
    """Malformed body, settings or event fields: retrying the same bytes cannot help."""

    status_code = 400


class Unauthorized(IngestError):
    """Credentials the view checks itself (a webhook signature) are missing or wrong."""

    status_code = 401


class NotFound(IngestError):
    """A route this deployment does not offer (webhook mode without its secrets)."""

    status_code = 404


class PayloadTooLarge(IngestError):
    """The body, or the message built from it, is more than the route or SNS carries."""

    status_code = 413


class UnsupportedMediaType(IngestError):
    """The body is not declared as JSON."""

    status_code = 415


class UnhandledEventType(IngestError):
    """A `type` this deployment has no topic for: the code Segment's partner docs ask for."""

    status_code = 501


class PublishFailed(IngestError):
    """SNS refused the publish for a reason a retry will not fix without an operator
    (missing topic, denied access); still a 5xx so that Segment keeps the event."""

    status_code = 500


class Unavailable(IngestError):
    """A service the request needs failed transiently: retrying later can succeed."""

    status_code = 503


class PublishUnavailable(Unavailable):
    """SNS throttled, failed or timed out on every attempt within the deadline."""


class Misconfigured(IngestError):
    """A setting the deployment must provide is absent: an operator has to fix it."""

    status_code = 500
