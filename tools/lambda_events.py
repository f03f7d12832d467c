"""The events API Gateway hands the service's two Lambda functions, shaped as it shapes them.

One builder for the tests and the benchmark, so that both send the view and
the authorizer what production sends them. Not in `chalicelib/`: nothing here
is deployed.
"""

import base64
from collections.abc import Mapping
from typing import Any

# The REST API's stage: API Gateway puts it in the request context and in the path it reports.
API_STAGE = "api"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/POST/v1/segment"


def gateway_event(
    path: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    account_id: str,
    request_id: str,
    arrived_at: float | None = None,
) -> dict[str, Any]:
    """The Lambda proxy event of a POST to `path`, once the authorizer has allowed the key of `account_id`.

    `application/*` is a binary media type of the API, so API Gateway passes
    JSON bodies, gzip or not, base64-encoded. `arrived_at` (epoch seconds) is
    when API Gateway received the request, before the authorizer ran: it puts
    it in the request context as `requestTimeEpoch`, in milliseconds.
    """
    event: dict[str, Any] = {
        "resource": path,
        "path": path,
        "httpMethod": "POST",
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": "POST",
            "requestId": request_id,
            "path": f"/{API_STAGE}{path}",
            "stage": API_STAGE,
            "authorizer": {"account_id": account_id, "principalId": account_id},
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    if arrived_at is not None:
        event["requestContext"]["requestTimeEpoch"] = int(arrived_at * 1000)
    return event


def authorizer_event(api_key: str) -> dict[str, str]:
    """The TOKEN authorizer event for a request that carries `api_key` as Segment sends it."""
    return {"type": "TOKEN", "authorizationToken": basic_authorization(api_key), "methodArn": METHOD_ARN}


def basic_authorization(api_key: str) -> str:
    """Segment's `Authorization` header: the key as the Basic user name, no password."""
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()


class LambdaContext:
    """The few attributes of Lambda's context object that Chalice and the app read: the view's 6-second timeout."""

    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    function_name = "emma-segment-bench"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 6_000
