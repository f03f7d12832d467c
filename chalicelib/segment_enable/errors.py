"""Why the flow stopped, as exceptions that carry what the browser is shown.

Each class fixes the HTTP status and the text of its page; `detail` is for the
log only, and, like the page, never holds a key, token, code or secret.
"""

from chalicelib.errors import Refusal


class EnableError(Refusal):
    """A failure shown to the person in the browser."""

    status_code = 500
    title = "Emma could not be enabled in Segment"
    advice = "Nothing was changed. Go back to Emma and try again in a few minutes."


class InvalidLink(EnableError):
    """A link or state that is malformed, tampered with, or opened in another browser."""

    status_code = 400
    title = "This link is not valid"
    advice = (
        "It may be incomplete, or it was opened in a different browser from the one that started. "
        "Go back to Emma and click Enable with Segment again."
    )


class ExpiredLink(InvalidLink):
    """A link or state older than its lifetime."""

    title = "This link has expired"
    advice = "Go back to Emma and click Enable with Segment again."


class AuthorizationExpired(InvalidLink):
    """Segment no longer accepts the code (used already, or too old): `invalid_grant`."""

    title = "This authorization has expired or was already used"
    advice = "Nothing was changed. Go back to Emma and click Enable with Segment again."


class AuthorizationFailed(EnableError):
    """Segment sent the browser back with an OAuth error other than a refusal."""

    status_code = 502
    title = "Segment did not authorize Emma"


class TokenExchangeFailed(EnableError):
    """Segment's token endpoint refused, failed, or did not answer in time."""

    status_code = 502
    title = "Segment did not confirm the authorization"


class ConfigApiRefused(EnableError):
    """The Config API answered a 4xx: the destination was not changed."""

    status_code = 502
    title = "Segment did not accept the Emma destination"


class ConfigApiUnavailable(EnableError):
    """The Config API failed (5xx) or did not answer in time: the change may or may not be made."""

    status_code = 502
    title = "Segment did not confirm the change"
    advice = (
        "The Emma destination on your Segment source may not be set up. "
        "Go back to Emma and click Enable with Segment again in a few minutes."
    )


class NotConfigured(EnableError):
    """This deployment lacks a setting or cannot read a secret the flow needs."""

    title = "Enable with Segment is not available"
    advice = "Nothing was changed. Please contact Emma support."


class NoDestination(NotConfigured):
    """`SEGMENT_DESTINATION_SLUG` is not set: the flow has no destination in Segment's catalog to create."""

    advice = (
        "Nothing was changed. To send your Segment events to Emma, add Emma's destination to your Segment "
        "source in Segment's catalog, with your Emma API key."
    )
