"""Answers in the shape Segment reads: JSON, and `{"message": ...}` for every error."""

from typing import Any

from chalice.app import Response

from chalicelib.errors import IngestError, Unavailable

_JSON = {"Content-Type": "application/json"}


def answer(status_code: int, body: dict[str, Any]) -> Response:
    return Response(body=body, status_code=status_code, headers=dict(_JSON))


def error_answer(error: IngestError) -> Response:
    response = answer(error.status_code, {"message": error.message})
    if isinstance(error, Unavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response
