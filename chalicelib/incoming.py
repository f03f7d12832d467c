"""What the endpoint reads from an API Gateway request, checked before anything is parsed."""

from typing import Any

from chalice.app import Request

from chalicelib import strict_json
from chalicelib.errors import Misconfigured, PayloadTooLarge, UnsupportedMediaType
from chalicelib.segment_settings import decode_settings

# Nothing larger can fit in one SNS message, so it is refused before parsing.
MAX_BODY_BYTES = 256 * 1024


def json_object_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 unless declared JSON, 413 when too large, 400 when malformed."""
    _require_json_content_type(request.headers.get("content-type"))
    body = request.raw_body
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; this route accepts at most {MAX_BODY_BYTES}")
    return strict_json.parse_object(body, "body")


def _require_json_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        shown = media_type[:100] or "none"
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {shown}")


def settings(request: Request) -> dict[str, Any]:
    """The destination settings from `X-Segment-Settings`, `{}` when absent."""
    return decode_settings(request.headers.get("x-segment-settings"))


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
