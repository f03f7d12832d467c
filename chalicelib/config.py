"""Settings from the environment, read when used.

Each stage in `.chalice/config.json` names its topics and tables; Chalice's
test client only applies them during a request, so nothing here is read at
import time.
"""

import os

from chalicelib.errors import Misconfigured


def topic_arn(event_type: str) -> str | None:
    """`TOPIC_ARN_<TYPE>`, else `TOPIC_ARN_DEFAULT`, else None."""
    return os.environ.get(f"TOPIC_ARN_{event_type.upper()}") or os.environ.get("TOPIC_ARN_DEFAULT") or None


def api_keys_table() -> str:
    """The DynamoDB table of API key hashes (`API_KEYS_TABLE`)."""
    return _required("API_KEYS_TABLE")


def metrics_namespace() -> str:
    """The CloudWatch namespace of the request metrics (`METRICS_NAMESPACE`); each stage sets its own."""
    return os.environ.get("METRICS_NAMESPACE") or "EmmaSegment"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise Misconfigured(f"this deployment is misconfigured: {name} is not set")
    return value
