"""Emma's Segment destination: the routes and the authorizer. The work is in chalicelib.

The authorizer runs as its own Lambda function, built from this same module,
so the module imports only what the authorizer needs; each view imports its
own machinery (marshmallow, SNS) when first called.
"""

from typing import Any

from chalice.app import AuthRequest, Chalice, Request, Response

from chalicelib import authorizer

app = Chalice(app_name="emma-segment")

# Every content type reaches the view, which answers 415 itself in Segment's
# `{"message"}` shape instead of Chalice's `{"Code", "Message"}`.
ANY_CONTENT_TYPE = ["*/*"]


@app.authorizer(ttl_seconds=authorizer.CACHE_TTL_SECONDS)
def api_key(auth_request: AuthRequest) -> dict[str, Any]:
    """Segment's `Authorization: Basic base64("<Emma API key>:")`, checked against the key table."""
    return authorizer.authorize(auth_request.token, auth_request.method_arn)


@app.route("/v1/segment", methods=["POST"], authorizer=api_key, content_types=ANY_CONTENT_TYPE)
def segment_event() -> Response:
    """One event from Segment's direct-destination delivery."""
    from chalicelib.ingest import handle_event

    return handle_event(_current_request())


@app.route("/v1/segment/enable", methods=["GET"], authorizer=api_key)
def enable_with_segment() -> Response:
    """Start "Enable with Segment" for the API key's account: a redirect to Segment's consent page."""
    from chalicelib.segment_enable.views import start_with_api_key

    return start_with_api_key(_current_request())


@app.route("/v1/segment/enable/link", methods=["GET"])
def enable_with_segment_link() -> Response:
    """The same, for a browser holding a short-lived link signed by the Emma app instead of a key."""
    from chalicelib.segment_enable.views import start_with_link

    return start_with_link(_current_request())


@app.route("/v1/segment/enable/callback", methods=["GET"])
def enable_with_segment_callback() -> Response:
    """Where Segment sends the browser back: the destination is created or updated, and a page says so."""
    from chalicelib.segment_enable.views import callback

    return callback(_current_request())


def _current_request() -> Request:
    """The request a view is handling (Chalice types it as optional)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("a view was called outside a request")
    return request
