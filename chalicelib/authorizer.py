"""The API Gateway TOKEN authorizer: Segment's Basic credentials to an Emma account.

Segment sends `Authorization: Basic base64("<apiKey>:")`. A known, active key
is allowed and hands its account to the view; a disabled one is denied (403);
anything else is unauthorized (401). Failures to read the key table are
neither: they surface as a 5xx so that Segment retries.
"""

import base64
import binascii
import json
import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.aws_failures import retry_unless_permanent
from chalicelib.deadline import Deadline, retrying
from chalicelib.dynamodb import dynamodb_patience
from chalicelib.keys import KeyStore, usage_key
from chalicelib.request_log import RequestLog

# API Gateway caches a decision per Authorization value for this long. It spares
# a DynamoDB read on nearly every event of a busy source, and it is how long a
# disabled key may keep working, so it is kept to five minutes.
CACHE_TTL_SECONDS = 300
# Of the authorizer function's 3-second timeout: a decision not made by then is a 500, which Segment retries.
BUDGET_SECONDS = 2.0
# Emma keys are 43 characters; a header far longer than that is not a key.
_MAX_TOKEN_CHARS = 1024
_SCHEME = "basic "


@dataclass(frozen=True)
class Decision:
    """What the authorizer concluded, and why, for the log."""

    outcome: str  # "allow", "deny" or "unauthorized"
    reason: str
    account_id: str | None = None


def authorize(token: str | None, method_arn: str) -> dict[str, Any]:
    """The policy for `token`, or the exception that makes the gateway answer 401/500."""
    log = RequestLog("authorizer")
    try:
        decision = _decided(token, config.api_keys_table())
    except Exception as error:
        log.write(outcome="error", reason=type(error).__name__)
        raise _gateway_error(500, "authorization is unavailable; retry later") from error
    log.write(outcome=decision.outcome, reason=decision.reason, account_id=decision.account_id)
    if decision.outcome == "unauthorized":
        raise _gateway_error(401, "Unauthorized")
    return _policy(decision, method_arn, config.api_keys_table())


def _decided(token: str | None, table_name: str) -> Decision:
    """`decide`, its key table read retried within the budget when a retry is safe (a read always is)."""
    deadline = Deadline.after(BUDGET_SECONDS)

    def attempt(client: Any) -> Decision:
        try:
            return decide(token, KeyStore(client, table_name))
        except (ClientError, BotoCoreError) as error:
            retry_unless_permanent(error)
            raise

    return retrying(attempt, deadline, dynamodb_patience())[0]


def decide(token: str | None, store: KeyStore) -> Decision:
    """Allow an active key, deny a disabled one, refuse everything else."""
    key = api_key_from(token)
    if key is None:
        return Decision("unauthorized", "malformed")
    record = store.find(key)
    if record is None:
        return Decision("unauthorized", "unknown key")
    if not record.active:
        return Decision("deny", "disabled key", record.account_id)
    return Decision("allow", "active key", record.account_id)


def api_key_from(token: str | None) -> str | None:
    """The key in `Basic base64("<key>:<ignored>")`, or None if there is none."""
    if not token or len(token) > _MAX_TOKEN_CHARS or token[: len(_SCHEME)].lower() != _SCHEME:
        return None
    try:
        credentials = base64.b64decode(token[len(_SCHEME) :].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    key = credentials.partition(":")[0]
    return key or None


def _policy(decision: Decision, method_arn: str, table: str) -> dict[str, Any]:
    """A policy over every route of the API: API Gateway caches it per token, for all routes.

    An allowed account's requests are counted against its usage plan key, which
    the gateway throttles (429) before the view runs, so that one account's
    replay cannot take the capacity every other account needs.
    """
    # arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path>
    arn_parts = method_arn.split(":", 5)
    api_and_stage = "/".join(arn_parts[-1].split("/")[:2])
    all_routes = ":".join([*arn_parts[:-1], f"{api_and_stage}/*/*"])
    policy: dict[str, Any] = {
        "principalId": decision.account_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if decision.outcome == "allow" else "Deny",
                    "Resource": [all_routes],
                }
            ],
        },
        "context": {"account_id": decision.account_id},
    }
    if decision.outcome == "allow" and decision.account_id is not None:
        policy["usageIdentifierKey"] = usage_key(table, decision.account_id)
    return policy


def _gateway_error(status: int, message: str) -> Exception:
    """The exception that makes the gateway answer `status`.

    API Gateway answers 401 when a TOKEN authorizer raises exactly
    `Exception("Unauthorized")`, and 500 for any other exception. `chalice
    local` and Chalice's test client drop the connection on any exception
    except their own gateway errors, so those are raised outside Lambda.
    """
    if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
        return Exception("Unauthorized" if status == 401 else message)
    from chalice.local import InvalidAuthorizerError, NotAuthorizedError  # noqa: PLC0415 (not deployed)

    gateway_error = NotAuthorizedError if status == 401 else InvalidAuthorizerError
    body = json.dumps({"message": message}).encode()
    return gateway_error({"Content-Type": "application/json"}, body)
