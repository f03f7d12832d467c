"""`chalice package` for each stage: a template CloudFormation accepts, with the API Segment needs."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_all, lint_file

from chalicelib.authorizer import CACHE_TTL_SECONDS
from chalicelib.deadline import BUDGET_SECONDS
from tests.deploy.conftest import STAGES
from tools.deploy import INFRA_TEMPLATE, gateway_responses

# Segment gives up on a request after about this long.
SEGMENT_TIMEOUT_SECONDS = 5


def lint(path: Path) -> list[str]:
    return [str(match) for match in lint_file(path, config=ManualArgs(regions=["us-east-1"]))]


def test_the_resource_template_passes_cfn_lint() -> None:
    assert lint(INFRA_TEMPLATE) == []


@pytest.mark.parametrize("stage", STAGES)
def test_the_packaged_template_passes_cfn_lint(stage: str, packaged_paths: dict[str, Path]) -> None:
    assert lint(packaged_paths[stage]) == []


def test_cfn_lint_can_fail() -> None:
    assert lint_all('{"Resources": {"Topic": {"Type": "AWS::SNS::Topicc"}}}')


@pytest.mark.parametrize("stage", STAGES)
def test_the_route_is_guarded_by_the_api_key_authorizer(stage: str, packaged: dict[str, dict[str, Any]]) -> None:
    swagger = packaged[stage]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    security = swagger["paths"]["/v1/segment"]["post"]["security"]
    [name] = [name for requirement in security for name in requirement if name != "api_key"]
    definition = swagger["securityDefinitions"][name]
    assert (definition["type"], definition["in"], definition["name"]) == ("apiKey", "header", "Authorization")
    assert definition["x-amazon-apigateway-authtype"] == "custom"
    authorizer = definition["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert authorizer["authorizerResultTtlInSeconds"] == CACHE_TTL_SECONDS
    assert "ApiKeyAuthorizer.Arn" in json.dumps(authorizer["authorizerUri"])


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("route", ["/v1/segment", "/v1/batch", "/v1/track"])
def test_event_routes_are_counted_against_the_usage_plan_key_the_authorizer_names(
    stage: str, route: str, packaged: dict[str, dict[str, Any]]
) -> None:
    swagger = packaged[stage]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert {"api_key": []} in swagger["paths"][route]["post"]["security"]
    # (in the definition Chalice generates, so that `chalice deploy` puts it too)
    assert swagger["x-amazon-apigateway-api-key-source"] == "AUTHORIZER"


@pytest.mark.parametrize("stage", STAGES)
def test_the_packaged_stage_carries_its_throttles_and_reserved_concurrency(
    stage: str, packaged: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    # GIVEN the stage's settings
    settings = config["stages"][stage]
    resources = packaged[stage]["Resources"]

    # THEN every route of the stage is throttled as the stage says
    stage_limit = settings["api_gateway_throttling"]
    assert resources["RestAPI"]["Properties"]["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": stage_limit["rate_limit"],
            "ThrottlingBurstLimit": stage_limit["burst_limit"],
        }
    ]
    # AND each account's key, and its batches, as the stage says, on this API's stage
    plan = resources["AccountsUsagePlan"]["Properties"]
    account, batch = settings["account_throttling"], settings["account_batch_throttling"]
    assert plan["Throttle"] == {"RateLimit": account["rate_limit"], "BurstLimit": account["burst_limit"]}
    assert plan["ApiStages"] == [
        {
            "ApiId": {"Ref": "RestAPI"},
            "Stage": {"Ref": "RestAPI.Stage"},
            "Throttle": {"/v1/batch/POST": {"RateLimit": batch["rate_limit"], "BurstLimit": batch["burst_limit"]}},
        }
    ]
    # AND each function keeps the environments the stage reserves for it, leaving 100 of the AWS
    # account's default 1,000 unreserved, as Lambda requires
    reserved = {name: function["reserved_concurrency"] for name, function in settings["lambda_functions"].items()}
    assert resources["APIHandler"]["Properties"]["ReservedConcurrentExecutions"] == reserved["api_handler"]
    assert resources["ApiKeyAuthorizer"]["Properties"]["ReservedConcurrentExecutions"] == reserved["api_key_authorizer"]
    assert sum(reserved.values()) <= 1000 - 100


@pytest.mark.parametrize("stage", STAGES)
def test_the_view_outlasts_its_publish_deadline_and_the_authorizer_ends_before_segment_gives_up(
    stage: str, packaged: dict[str, dict[str, Any]]
) -> None:
    resources = packaged[stage]["Resources"]
    view, authorizer = resources["APIHandler"]["Properties"], resources["ApiKeyAuthorizer"]["Properties"]
    # The view answers 503 itself when SNS is out of time, rather than Lambda cutting it off.
    assert BUDGET_SECONDS + 1 < view["Timeout"] <= SEGMENT_TIMEOUT_SECONDS + 1
    assert authorizer["Timeout"] < SEGMENT_TIMEOUT_SECONDS
    # docs/deploying.md, Lambda sizing: the view's batches meet their deadline at 512 MB; the authorizer's
    # cold start, CPU-bound, is half as long at 1,024 MB for the same price.
    assert (view["MemorySize"], authorizer["MemorySize"]) == (512, 1024)


@pytest.mark.parametrize("stage", STAGES)
def test_the_packaged_api_carries_the_gateway_responses(stage: str, packaged: dict[str, dict[str, Any]]) -> None:
    swagger = packaged[stage]["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    assert swagger["x-amazon-apigateway-gateway-responses"] == gateway_responses()


def test_gateway_responses_answer_segment_style_messages_and_echo_nothing_from_the_request() -> None:
    responses = gateway_responses()
    expected = {
        "UNAUTHORIZED": "401",
        "ACCESS_DENIED": "403",
        "MISSING_AUTHENTICATION_TOKEN": "404",
        "AUTHORIZER_FAILURE": "500",
        "THROTTLED": "429",
    }
    assert {kind: responses[kind]["statusCode"] for kind in expected} == expected
    # Every type without its own entry falls back to these, whatever its status.
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response in responses.values():
        assert set(response["responseTemplates"]) == {"application/json"}
        template = response["responseTemplates"]["application/json"]
        # API Gateway's default for an unknown path quotes the Authorization header
        # in $context.error.message; only the response type's name may be used.
        assert re.findall(r"\$[\w.{}]+", template) in ([], ["$context.error.responseType"])
        body = json.loads(template.replace("$context.error.responseType", "ACCESS_DENIED"))
        assert set(body) == {"message"} and body["message"]
        for value in response["responseParameters"].values():
            assert value.startswith("'") and value.endswith("'"), "a header from the request would be echoed"


def test_the_prod_stage_serves_the_custom_domain_at_its_root(packaged: dict[str, dict[str, Any]]) -> None:
    resources = packaged["prod"]["Resources"]
    assert resources["ApiGatewayCustomDomain"]["Properties"]["DomainName"] == "events.e2ma.net"
    assert resources["ApiGatewayCustomDomainMapping"]["Properties"]["BasePath"] == "(none)"


def test_the_gateways_own_retryable_answers_say_when_to_retry() -> None:
    retryable = {
        kind: response
        for kind, response in gateway_responses().items()
        if kind in ("DEFAULT_5XX", "THROTTLED") or response.get("statusCode", "").startswith("5")
    }
    assert set(retryable) >= {"DEFAULT_5XX", "THROTTLED", "AUTHORIZER_FAILURE"}
    for response in retryable.values():
        assert response["responseParameters"]["gatewayresponse.header.Retry-After"] == "'5'"
