"""Emma's Segment destination: the routes and the authorizer. The work is in chalicelib.

The authorizer runs as its own Lambda function, built from this same module,
so the module imports only what the authorizer needs; each view imports its
own machinery (marshmallow, SNS) when first called.
"""

import gc
from typing import Any

from chalice.app import AuthRequest, Chalice, Request, Response

from chalicelib import authorizer

app = Chalice(app_name="emma-segment")

# Segment's libraries gzip their bodies, which API Gateway passes on intact only
# for binary media types. The wildcard covers application/json for API Gateway
# while Chalice, which matches binary types exactly, still answers JSON as text.
app.api.binary_types.append("application/*")


# Not named `api_key`: Chalice's swagger reserves that name for API Gateway's
# own `x-api-key` check and would put it in this authorizer's place.
@app.authorizer(ttl_seconds=authorizer.CACHE_TTL_SECONDS)
def api_key_authorizer(auth_request: AuthRequest) -> dict[str, Any]:
    """Segment's `Authorization: Basic base64("<Emma API key>:")`, checked against the key table."""
    return authorizer.authorize(auth_request.token, auth_request.method_arn)


# Every content type reaches the ingest views, which answer 415 themselves in
# Segment's `{"message"}` shape instead of Chalice's `{"Code", "Message"}`.
INGEST = {"methods": ["POST"], "content_types": ["*/*"]}
# `api_key_required`: the gateway counts each request against the usage plan key the authorizer
# names for its account, and throttles an account beyond its share (docs/capacity.md).
WITH_API_KEY = {**INGEST, "authorizer": api_key_authorizer, "api_key_required": True}


@app.route("/v1/segment", **WITH_API_KEY)
def segment_event() -> Response:
    """One event from Segment's direct-destination delivery."""
    from chalicelib.ingest import handle_event

    return handle_event(_current_request())


@app.route("/v1/batch", **WITH_API_KEY)
def batch() -> Response:
    """A batch of events from Segment's libraries, sent straight to Emma."""
    from chalicelib.ingest import handle_batch

    return handle_batch(_current_request())


@app.route("/v1/identify", **WITH_API_KEY)
@app.route("/v1/track", **WITH_API_KEY)
@app.route("/v1/page", **WITH_API_KEY)
@app.route("/v1/screen", **WITH_API_KEY)
@app.route("/v1/group", **WITH_API_KEY)
@app.route("/v1/alias", **WITH_API_KEY)
def tracking_api_event() -> Response:
    """One event from Segment's libraries to the HTTP Tracking API's `/v1/<type>`: the path names the type."""
    from chalicelib.ingest import handle_event

    request = _current_request()
    return handle_event(request, implied_type=request.path.rsplit("/", 1)[-1])


@app.route("/v1/webhook/{account_id}", **INGEST)
def webhook_event(account_id: str) -> Response:
    """One event from Segment's Webhooks destination, signed instead of carrying an API key."""
    from chalicelib.ingest import handle_webhook

    return handle_webhook(_current_request(), account_id)


@app.route("/v1/me", methods=["GET"], authorizer=api_key_authorizer)
def who_am_i() -> Response:
    """The account of the API key: how Segment's Actions destination checks a key when it is saved."""
    from chalicelib.ingest import handle_who_am_i

    return handle_who_am_i(_current_request())


@app.route("/v1/openapi.json", methods=["GET"])
def openapi_document() -> Response:
    """This API's OpenAPI 3 document, generated from its schemas."""
    from chalicelib.openapi import document

    return Response(body=document(), headers={"Content-Type": "application/json"})


@app.route("/v1/segment/enable", methods=["GET"], authorizer=api_key_authorizer)
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


# What this module has loaded (the SDK, Chalice, the authorizer) lives as long
# as the Lambda container. Frozen, the garbage collector no longer walks it:
# the objects that a first request adds (marshmallow, an AWS client) otherwise
# set off a full collection over all of it, ~40 ms of each cold start of either
# function (see the README's Performance section).
gc.freeze()
