"""The destination's settings, which Segment sends as `X-Segment-Settings: base64(JSON object)`."""

import base64
import binascii
from typing import Any

from chalicelib import strict_json
from chalicelib.errors import BadRequest

HEADER = "X-Segment-Settings"
# A destination's settings are a few ids and flags; API Gateway itself allows 10 KB of headers.
MAX_HEADER_CHARS = 32 * 1024


def decode_settings(header: str | None) -> dict[str, Any]:
    """The decoded settings, `{}` when the header is absent or empty; `BadRequest` when malformed."""
    if header is None or not header.strip():
        return {}
    if len(header) > MAX_HEADER_CHARS:
        raise BadRequest(f"{HEADER}: is more than {MAX_HEADER_CHARS} characters")
    try:
        raw = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{HEADER}: is not base64") from None
    return strict_json.parse_object(raw, HEADER)
