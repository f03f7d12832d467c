"""What API Gateway holds a stage to: a throttle for the whole stage, and one per account.

API Gateway throttles a stage's requests as a whole (`api_gateway_throttling`
in the stage's settings) and, through a usage plan, those of each API key
(`account_throttling`, and in its place for `/v1/batch`, whose requests
carry up to 2,500 events, `account_batch_throttling`). The authorizer names each account's key
(`chalicelib.keys.usage_key`), so a replay from one account is answered 429
with `Retry-After` (infra/gateway-responses.json) at that account's limit,
before any Lambda function runs, while every other account's requests go on.
Nothing is written per request. docs/capacity.md says why this design, and
what it costs.

Chalice sets none of this but the key source (`tools.chalice_cli`). `make
deploy` applies it around `chalice deploy`, and `make package` merges all but
the usage keys into the template: those `python -m tools.deploy usage-keys
--stage <stage>` creates, once the stack is up and before Segment sends to it.
"""

from dataclasses import dataclass
from typing import Any

from chalicelib.keys import usage_key_prefix, usage_keys


@dataclass(frozen=True)
class Throttle:
    """API Gateway's token bucket: requests per second, and how many may come at once above it."""

    rate_limit: float
    burst_limit: int


# Each setting's default, documented in docs/deploying.md. The stage's throttle stays under the
# AWS account's regional quota (10,000 requests per second, burst 5,000), which all its APIs share.
# One Emma account at both of its limits holds about 47 of the view's 800 reserved environments
# and 11,100 of the dedup table's writes per second (docs/capacity.md): the rest is the others'.
DEFAULTS = {
    "api_gateway_throttling": Throttle(rate_limit=5000, burst_limit=2500),
    "account_throttling": Throttle(rate_limit=500, burst_limit=1000),
    "account_batch_throttling": Throttle(rate_limit=20, burst_limit=40),
}
# The route `account_batch_throttling` holds, as a usage plan names it, and as a patch addresses it
# (a JSON pointer, each "/" of its path written "~1").
BATCH_METHOD = "/v1/batch/POST"
BATCH_METHOD_POINTER = "~1v1~1batch/POST"


class LimitsError(Exception):
    """A stage's throttling settings that the gateway cannot take."""


def throttle(settings: dict[str, Any], name: str) -> Throttle:
    """The stage's `name` throttle (a key of `DEFAULTS`), its defaults filled in, checked."""
    given: dict[str, Any] = settings.get(name, {})
    unknown = sorted(set(given) - {"rate_limit", "burst_limit"})
    if unknown:
        raise LimitsError(f"unknown {name} settings {unknown} in .chalice/config.json (known: rate_limit, burst_limit)")
    default = DEFAULTS[name]
    chosen = Throttle(given.get("rate_limit", default.rate_limit), given.get("burst_limit", default.burst_limit))
    if not (chosen.rate_limit > 0 and isinstance(chosen.burst_limit, int) and chosen.burst_limit >= 1):
        raise LimitsError(f"{name} in .chalice/config.json: rate_limit must be above 0 and burst_limit a whole number")
    return chosen


def check(settings: dict[str, Any]) -> None:
    """Refuse (`LimitsError`) any throttle setting the gateway cannot take, before anything is deployed."""
    for name in DEFAULTS:
        throttle(settings, name)


def usage_plan_name(stage: str) -> str:
    return f"emma-segment-{stage}-accounts"


def apply(apigateway: Any, rest_api_id: str, api_stage: str, stage: str, settings: dict[str, Any]) -> int:
    """The stage's throttles on its deployed stage; how many accounts' usage keys had to be created."""
    stage_throttle = throttle(settings, "api_gateway_throttling")
    apigateway.update_stage(
        restApiId=rest_api_id,
        stageName=api_stage,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(stage_throttle.rate_limit)},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(stage_throttle.burst_limit)},
        ],
    )
    plan_id = _usage_plan(apigateway, usage_plan_name(stage), f"{rest_api_id}:{api_stage}", settings)
    return sync_usage_keys(apigateway, plan_id, settings["environment_variables"]["API_KEYS_TABLE"])


def _usage_plan(apigateway: Any, name: str, api_stage: str, settings: dict[str, Any]) -> str:
    """The id of the stage's usage plan (`api_stage` is `<rest API id>:<stage>`), created or set to the settings."""
    account, batch = throttle(settings, "account_throttling"), throttle(settings, "account_batch_throttling")
    plan = usage_plan(apigateway, name)
    if plan is None:
        api_id, _, stage = api_stage.partition(":")
        plan = apigateway.create_usage_plan(
            name=name,
            apiStages=[{"apiId": api_id, "stage": stage, "throttle": {BATCH_METHOD: _throttle_settings(batch)}}],
            throttle=_throttle_settings(account),
        )
        return str(plan["id"])
    method = f"/apiStages/{api_stage}/throttle/{BATCH_METHOD_POINTER}"
    operations = [
        {"op": "replace", "path": "/throttle/rateLimit", "value": str(account.rate_limit)},
        {"op": "replace", "path": "/throttle/burstLimit", "value": str(account.burst_limit)},
    ]
    if api_stage not in [f"{stage['apiId']}:{stage['stage']}" for stage in plan.get("apiStages", [])]:
        operations.append({"op": "add", "path": "/apiStages", "value": api_stage})
    operations += [
        {"op": "add", "path": f"{method}/rateLimit", "value": str(batch.rate_limit)},
        {"op": "add", "path": f"{method}/burstLimit", "value": str(batch.burst_limit)},
    ]
    apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
    return str(plan["id"])


def usage_plan(apigateway: Any, name: str) -> dict[str, Any] | None:
    """The usage plan called `name`, if there is one."""
    return next((plan for plan in _all(apigateway, "get_usage_plans") if plan["name"] == name), None)


def method_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The stage's throttle as a SAM API's `MethodSettings` entry, for every route."""
    limit = throttle(settings, "api_gateway_throttling")
    return {
        "ResourcePath": "/*",
        "HttpMethod": "*",
        "ThrottlingRateLimit": limit.rate_limit,
        "ThrottlingBurstLimit": limit.burst_limit,
    }


def usage_plan_resource(stage: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The accounts' usage plan as a CloudFormation resource on the packaged API's stage."""
    account, batch = throttle(settings, "account_throttling"), throttle(settings, "account_batch_throttling")
    return {
        "Type": "AWS::ApiGateway::UsagePlan",
        "Properties": {
            "UsagePlanName": usage_plan_name(stage),
            "ApiStages": [
                {
                    "ApiId": {"Ref": "RestAPI"},
                    "Stage": {"Ref": "RestAPI.Stage"},
                    "Throttle": {BATCH_METHOD: {"RateLimit": batch.rate_limit, "BurstLimit": batch.burst_limit}},
                }
            ],
            "Throttle": {"RateLimit": account.rate_limit, "BurstLimit": account.burst_limit},
        },
    }


def _throttle_settings(limit: Throttle) -> dict[str, Any]:
    return {"rateLimit": limit.rate_limit, "burstLimit": limit.burst_limit}


def sync_usage_keys(apigateway: Any, plan_id: str, table: str) -> int:
    """Every bucket's API key in the usage plan, created where missing; how many were created.

    A request whose authorizer names a key the plan lacks is refused 403, which
    Segment does not retry: so each deploy makes sure that all of them are there.
    """
    keys = {
        key["value"]: key["id"]
        for key in _all(apigateway, "get_api_keys", nameQuery=usage_key_prefix(table), includeValues=True)
    }
    in_plan = {key["id"] for key in _all(apigateway, "get_usage_plan_keys", usagePlanId=plan_id)}
    created = 0
    for value in usage_keys(table):
        if value not in keys:
            keys[value] = apigateway.create_api_key(name=value, value=value, enabled=True)["id"]
            created += 1
        if keys[value] not in in_plan:
            apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=keys[value], keyType="API_KEY")
    return created


def _all(apigateway: Any, operation: str, **arguments: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in apigateway.get_paginator(operation).paginate(**arguments):
        items.extend(page["items"])
    return items
