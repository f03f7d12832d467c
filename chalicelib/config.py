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


def dedup_table() -> str | None:
    """The deduplication table (`DEDUP_TABLE`); None: delivery is at-least-once."""
    return os.environ.get("DEDUP_TABLE") or None


# The claim window's floor: a claim must outlive the request that holds it, or a
# redelivery could take it over while the first publish is still under way.
MIN_CLAIM_SECONDS = 5
DEFAULT_CLAIM_SECONDS = 30


def dedup_claim_seconds() -> int:
    """`DEDUP_CLAIM_SECONDS`: how long a claim in the dedup table holds off other deliveries of its event."""
    setting = os.environ.get("DEDUP_CLAIM_SECONDS") or str(DEFAULT_CLAIM_SECONDS)
    try:
        seconds = int(setting)
    except ValueError:
        seconds = 0
    if seconds < MIN_CLAIM_SECONDS:
        raise Misconfigured(
            f"this deployment is misconfigured: DEDUP_CLAIM_SECONDS must be a whole number of seconds, "
            f"at least {MIN_CLAIM_SECONDS}"
        )
    return seconds


def webhook_secrets_prefix() -> str | None:
    """Where the webhook mode's per-account secrets live in Secrets Manager; None turns the mode off."""
    return os.environ.get("WEBHOOK_SECRETS_PREFIX") or None


def metrics_namespace() -> str:
    """The CloudWatch namespace of the request metrics (`METRICS_NAMESPACE`); each stage sets its own."""
    return os.environ.get("METRICS_NAMESPACE") or "EmmaSegment"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise Misconfigured(f"this deployment is misconfigured: {name} is not set")
    return value


# "Enable with Segment": Emma's app in Segment's Developer Center and where Segment is.
SEGMENT_OAUTH_URL = "https://id.segmentapis.com"
SEGMENT_API_URL = "https://platform.segmentapis.com"


def segment_oauth_client_id() -> str:
    """The OAuth client id of Emma's Segment app (`SEGMENT_OAUTH_CLIENT_ID`)."""
    return _required("SEGMENT_OAUTH_CLIENT_ID")


def segment_oauth_client_secret() -> str:
    """`SEGMENT_OAUTH_CLIENT_SECRET`: the secret itself, or an `ssm:`/ARN reference to it."""
    return _required("SEGMENT_OAUTH_CLIENT_SECRET")


def segment_destination_slug() -> str:
    """Emma's destination slug in Segment's catalog (`SEGMENT_DESTINATION_SLUG`)."""
    return _required("SEGMENT_DESTINATION_SLUG")


def segment_oauth_redirect_uri() -> str:
    """The public callback URL registered with Segment (`SEGMENT_OAUTH_REDIRECT_URI`)."""
    return _required("SEGMENT_OAUTH_REDIRECT_URI")


def segment_enable_link_secret() -> str:
    """`SEGMENT_ENABLE_LINK_SECRET`, shared with the Emma app: the secret or an `ssm:`/ARN reference."""
    return _required("SEGMENT_ENABLE_LINK_SECRET")


def segment_oauth_url() -> str:
    """Segment's OAuth server (`SEGMENT_OAUTH_URL`, for tests), without a trailing slash."""
    return (os.environ.get("SEGMENT_OAUTH_URL") or SEGMENT_OAUTH_URL).rstrip("/")


def segment_api_url() -> str:
    """Segment's Config API (`SEGMENT_API_URL`, for tests), without a trailing slash."""
    return (os.environ.get("SEGMENT_API_URL") or SEGMENT_API_URL).rstrip("/")
