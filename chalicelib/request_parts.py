"""The parts of an HTTP request the routes read: the body as JSON, the settings, the account, the request id.

Each is checked before anything is parsed: the declared content type, the
encoding, the size, and `X-Segment-Settings`, the destination's settings
that Segment sends as `base64(JSON object)`.
"""

import base64
import binascii
import zlib
from typing import Any

from chalice.app import Request

from chalicelib import strict_json
from chalicelib.errors import BadRequest, Misconfigured, PayloadTooLarge, UnsupportedMediaType

# Nothing larger can fit in one SNS message, so a single event's body is refused before parsing.
MAX_EVENT_BYTES = 256 * 1024
SETTINGS_HEADER = "X-Segment-Settings"
# A destination's settings are a few ids and flags; API Gateway itself allows 10 KB of headers.
MAX_SETTINGS_CHARS = 32 * 1024
_GZIP = zlib.MAX_WBITS | 16


def json_body(request: Request, limit: int) -> Any:
    """The body as JSON: 415 unless declared JSON, 413 over `limit` bytes (after gunzip), 400 when malformed."""
    return strict_json.parse(_json_bytes(request, limit), "body")


def json_object_body(request: Request, limit: int = MAX_EVENT_BYTES) -> dict[str, Any]:
    """The body as one JSON object, with the checks of `json_body`."""
    return strict_json.parse_object(_json_bytes(request, limit), "body")


def _json_bytes(request: Request, limit: int) -> bytes:
    _require_json_content_type(request.headers.get("content-type"))
    return _decoded_body(request, limit)


def _decoded_body(request: Request, limit: int) -> bytes:
    """The body's bytes, gunzipped when `Content-Encoding: gzip` (as Segment's libraries send it)."""
    body = request.raw_body
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    encoding = (request.headers.get("content-encoding") or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding != "identity":
        raise UnsupportedMediaType("Content-Encoding: only gzip is supported, or none")
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; this route accepts at most {limit}")
    return body


def _gunzip(compressed: bytes, limit: int) -> bytes:
    """Decompress at most `limit` + 1 bytes, so a small gzip bomb cannot fill the memory."""
    decompressor = zlib.decompressobj(_GZIP)
    try:
        body = decompressor.decompress(compressed, limit + 1)
    except zlib.error:
        raise _bad_gzip() from None
    if len(body) > limit:
        raise PayloadTooLarge(
            f"the body is more than {limit} bytes once decompressed; this route accepts at most {limit}"
        )
    # Truncated, or followed by bytes that would otherwise be silently dropped.
    if not decompressor.eof or decompressor.unused_data:
        raise _bad_gzip()
    return body


def _bad_gzip() -> BadRequest:
    return BadRequest("body: Content-Encoding is gzip but the body is not one complete gzip stream")


def _require_json_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType("Content-Type: must be application/json")


def settings(request: Request) -> dict[str, Any]:
    """The destination settings from `X-Segment-Settings`: `{}` when absent or empty, `BadRequest` when malformed."""
    header = request.headers.get(SETTINGS_HEADER.lower())
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_SETTINGS_CHARS:
        raise BadRequest(f"{SETTINGS_HEADER}: is more than {MAX_SETTINGS_CHARS} characters")
    try:
        raw = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{SETTINGS_HEADER}: is not base64") from None
    return strict_json.parse_object(raw, SETTINGS_HEADER)


def account_id(request: Request) -> str:
    """The account the authorizer found for the API key: the only source of it."""
    authorizer = request.context.get("authorizer") or {}
    account = authorizer.get("account_id")
    if not account:
        raise Misconfigured("this route was reached without the API key authorizer")
    return str(account)


def request_id(request: Request) -> str:
    """API Gateway's request id, or Lambda's where there is no gateway (chalice local)."""
    return str(request.context.get("requestId") or getattr(request.lambda_context, "aws_request_id", ""))


def arrived_at(request: Request) -> float | None:
    """When API Gateway received the request (epoch seconds), if it says: Segment's 5 seconds start about then."""
    epoch_ms = request.context.get("requestTimeEpoch")
    return epoch_ms / 1000 if isinstance(epoch_ms, int | float) and not isinstance(epoch_ms, bool) else None
