"""What every measured process shares: its environment, the event mix, and the Lambda events built from it."""

import base64
import json
import os
from pathlib import Path
from typing import Any

from tools import lambda_events
from tools.lambda_events import LambdaContext, basic_authorization
from tools.provision import stage_environment

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "events.jsonl"
ACCOUNT_ID = "1234"
API_KEY = "bench-api-key"
SETTINGS = {"groupIds": ["42"]}
# The caller's settings that would point AWS calls, or the service's routing, elsewhere.
_NOT_INHERITED = ("AWS_", "TOPIC_ARN_", "DEDUP_TABLE", "PYTHONDONTWRITEBYTECODE")


def child_environment(endpoint: str, bytecode_cache: str) -> dict[str, str]:
    """The `local` stage's settings with every AWS call sent to `endpoint`, through the standard AWS configuration.

    Deduplication is off (no `DEDUP_TABLE`): the floor is one bare SNS
    publish. Every module's bytecode is cached in `bytecode_cache`, ours and
    the SDK's alike, so that neither side of a cold start pays for compiling
    (what a package without bytecode would).
    """
    environment = aws_environment(endpoint)
    environment.pop("DEDUP_TABLE", None)
    environment.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=bytecode_cache)
    return environment


def aws_environment(endpoint: str) -> dict[str, str]:
    """This process's environment with the `local` stage's settings, every AWS call sent to `endpoint`.

    No configuration file is read, so the figures do not depend on the
    machine's AWS profile.
    """
    environment = {name: value for name, value in os.environ.items() if not name.startswith(_NOT_INHERITED)}
    environment.update(stage_environment("local"))
    environment.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (neither the stub nor the emulator checks a signature)
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return environment


def event_mix() -> list[bytes]:
    """The sample events of every type, oddities included, as Segment sends them: one body each."""
    return [line.encode() for line in SAMPLES.read_text().splitlines() if line.strip()]


def gateway_event(path: str, body: bytes, settings: dict[str, Any] = SETTINGS) -> dict[str, Any]:
    """The Lambda proxy event API Gateway hands the view for `body`, with Segment's headers and `settings`."""
    headers = {
        "Authorization": basic_authorization(API_KEY),
        "Content-Type": "application/json",
        "Host": "events.e2ma.net",
        "User-Agent": "Segment.io/1.0",
        "X-Segment-Settings": base64.b64encode(json.dumps(settings).encode()).decode(),
        "X-Amzn-Trace-Id": "Root=1-67891233-abcdef012345678912345678",
        "X-Forwarded-For": "54.190.2.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    return lambda_events.gateway_event(
        path, body, headers, account_id=ACCOUNT_ID, request_id=LambdaContext.aws_request_id
    )
