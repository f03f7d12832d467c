"""Why an event was not accepted, as exceptions that carry Segment's status code.

Segment retries 429 and 5xx for hours and drops every other 4xx, so each class
below is a decision about retrying: a 4xx says "this can never succeed", a 5xx
says "try again later". The status is chosen here, by class, and nowhere else;
`responses.answered` turns each into its answer.
"""


class Refusal(Exception):
    """A request refused for a known reason: the status it is answered with, and `detail` for the log.

    `detail` never holds a secret or a value an event carries. Every route's
    refusals are answered in one place, `responses.answered`.
    """

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class IngestError(Refusal):
    """An event that is answered with an error; `message` is safe to show the sender."""

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


class MessageTooLarge(PayloadTooLarge):
    """One event's message is more than SNS carries; `size` is its bytes, work a batch's cap counts all the same."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


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


# How long a sender should wait before retrying a 503 that no claim's expiry bounds better.
RETRY_AFTER_SECONDS = 5


class Unavailable(IngestError):
    """A service the request needs failed transiently: retrying later can succeed.

    Answered 503 with `Retry-After: retry_after` (whole seconds), which
    Segment's newer libraries honour.
    """

    status_code = 503

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PublishUnavailable(Unavailable):
    """SNS throttled or failed on every attempt, or did not answer, within the deadline."""


class PublishOutcomeUnknown(Unavailable):
    """SNS may have taken an event without answering: its claim is kept, so a retry waits for the window."""


class InProgress(Unavailable):
    """Another delivery of the same messageId holds its claim: retry once it has ended."""


class DeadlineReached(Unavailable):
    """The request's deadline came before every event was claimed and published: a retry gets further."""


class DedupUnavailable(Unavailable):
    """The dedup table did not answer in time, or refused: nothing is published without a claim."""


class Misconfigured(IngestError):
    """A setting the deployment must provide is absent: an operator has to fix it."""

    status_code = 500
