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


# Not named `api_key`: Chalice's swagger reserves that name for API Gateway's
# own `x-api-key` check and would put it in this authorizer's place.
@app.authorizer(ttl_seconds=authorizer.CACHE_TTL_SECONDS)
def api_key_authorizer(auth_request: AuthRequest) -> dict[str, Any]:
    """Segment's `Authorization: Basic base64("<Emma API key>:")`, checked against the key table."""
    return authorizer.authorize(auth_request.token, auth_request.method_arn)


@app.route("/v1/segment", methods=["POST"], authorizer=api_key_authorizer, content_types=ANY_CONTENT_TYPE)
def segment_event() -> Response:
    """One event from Segment's direct-destination delivery."""
    from chalicelib.ingest import handle_event

    return handle_event(_current_request())


def _current_request() -> Request:
    """The request a view is handling (Chalice types it as optional)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("a view was called outside a request")
    return request
