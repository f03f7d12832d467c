"""The resource stack, the stage configuration and `make deploy` agree, checked on moto.

moto creates the stack from infra/resources.yaml (it does not model alarms or
TTL, which are read from the template); `deploy` runs against moto with
`chalice deploy` replaced by a stand-in that creates the REST API, since moto
cannot import Chalice's swagger.
"""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode
from moto import mock_aws

from chalicelib.errors import (
    DeadlineReached,
    DedupUnavailable,
    PublishFailed,
    PublishOutcomeUnknown,
    PublishUnavailable,
)
from chalicelib.keys import usage_key, usage_keys
from chalicelib.request_log import REJECTED
from tests.deploy.conftest import STAGES
from tests.deploy.policies import policy_problems
from tools import gateway_limits
from tools.aws_calls import Program
from tools.deploy import (
    INFRA_TEMPLATE,
    DeployError,
    deploy,
    environment_name,
    function_names,
    gateway_responses,
    load_config,
    policy_files,
    provision_stack,
    stage_settings,
    sync_usage_keys,
)
from tools.lambda_package import PackageError

# moto's CloudFormation does not model alarms; the template's alarms are read below instead.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudWatch..Alarm")
TEMPLATE, _ = decode(str(INFRA_TEMPLATE))
REPO = Path(__file__).resolve().parents[2]
MOTO_ACCOUNT = "123456789012"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def resource_name(value: str) -> str:
    """A topic's or table's name, whether given as an ARN or as a name."""
    return value.rsplit(":", 1)[-1]


@pytest.mark.parametrize("stage", STAGES)
def test_the_stack_creates_what_the_stage_configuration_names(aws: None, stage: str) -> None:
    settings = stage_settings(load_config(), stage)
    outputs = provision_stack(stage, load_config()["app_name"], settings)
    environment = settings["environment_variables"]
    created = {environment_name(key): value for key, value in outputs.items() if environment_name(key) in environment}
    # Every topic, table and the metrics namespace the stage uses comes from the stack; the
    # webhook secrets and the Segment app's settings are an operator's (see Deploying).
    from_stack = {name: value for name, value in environment.items() if _names_stack_resource(name)}
    assert set(created) == set(from_stack)
    assert {name: resource_name(value) for name, value in created.items()} == {
        name: resource_name(value) for name, value in from_stack.items()
    }


def _names_stack_resource(setting: str) -> bool:
    return setting.startswith("TOPIC_ARN_") or setting.endswith("_TABLE") or setting == "METRICS_NAMESPACE"


def test_the_dedup_table_has_the_contracts_key_and_ttl() -> None:
    table = TEMPLATE["Resources"]["DedupTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_the_key_table_has_the_contracts_key_and_survives_the_stack() -> None:
    table = TEMPLATE["Resources"]["ApiKeysTable"]
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "key_hash", "KeyType": "HASH"}]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def alarm_metrics(alarm: str) -> list[dict[str, Any]]:
    return [query["MetricStat"]["Metric"] for query in TEMPLATE["Resources"][alarm]["Properties"]["Metrics"]
            if "MetricStat" in query]  # fmt: skip


def test_the_5xx_alarm_watches_the_api_chalice_deploys() -> None:
    config = load_config()
    parameters = TEMPLATE["Parameters"]
    assert parameters["ApiName"]["Default"] == config["app_name"]
    for stage in STAGES:
        assert stage_settings(config, stage)["api_gateway_stage"] == parameters["ApiStage"]["Default"]
    assert {metric["MetricName"] for metric in alarm_metrics("ServerErrorRateAlarm")} == {"5XXError", "Count"}


def test_the_4xx_alarm_watches_the_same_api_as_the_5xx_alarm() -> None:
    assert {metric["MetricName"] for metric in alarm_metrics("ClientErrorRateAlarm")} == {"4XXError", "Count"}
    for metric in alarm_metrics("ClientErrorRateAlarm"):
        assert metric["Dimensions"] == [
            {"Name": "ApiName", "Value": {"Ref": "ApiName"}},
            {"Name": "Stage", "Value": {"Ref": "ApiStage"}},
        ]


@pytest.mark.parametrize("stage", STAGES)
def test_the_lambda_throttled_alarm_watches_both_functions_by_the_names_chalice_deploys(stage: str) -> None:
    metrics = alarm_metrics("LambdaThrottledAlarm")
    assert {(metric["Namespace"], metric["MetricName"]) for metric in metrics} == {("AWS/Lambda", "Throttles")}
    watched = {
        metric["Dimensions"][0]["Value"]["Fn::Sub"]
        .replace("${ApiName}", load_config()["app_name"])
        .replace("${Stage}", stage)
        for metric in metrics
    }
    assert watched == set(function_names(stage).values())


@pytest.mark.parametrize("stage", STAGES)
def test_the_publish_failures_alarm_watches_the_metrics_the_service_emits(stage: str) -> None:
    metrics = alarm_metrics("PublishFailuresAlarm")
    namespace = stage_settings(load_config(), stage)["environment_variables"]["METRICS_NAMESPACE"]
    assert {metric["Namespace"]["Fn::Sub"].replace("${Stage}", stage) for metric in metrics} == {namespace}
    assert {metric["MetricName"] for metric in metrics} == {REJECTED}
    reasons = {dimension["Value"] for metric in metrics for dimension in metric["Dimensions"]}
    # Every reason an event is not published for, but another delivery of it being under way.
    watched = (PublishFailed, PublishUnavailable, PublishOutcomeUnknown, DeadlineReached, DedupUnavailable)
    assert reasons == {reason.__name__ for reason in watched}


def test_the_throttling_alarm_watches_the_dedup_tables_reads_and_writes_in_either_capacity_mode() -> None:
    alarm = TEMPLATE["Resources"]["DedupThrottledAlarm"]
    # Provisioned throttles beyond its capacity; on-demand beyond a partition's or the table's limits.
    assert "Condition" not in alarm
    metrics = alarm_metrics("DedupThrottledAlarm")
    assert {(metric["Namespace"], metric["MetricName"]) for metric in metrics} == {
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    }
    for metric in metrics:
        assert metric["Dimensions"] == [{"Name": "TableName", "Value": {"Ref": "DedupTable"}}]
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the stage configuration and policies, for `deploy` to rewrite."""
    shutil.copytree(REPO / ".chalice", tmp_path / ".chalice", ignore=shutil.ignore_patterns("deploy*"))
    return tmp_path


def stand_in_for_chalice_deploy(project: Path) -> Any:
    """What `chalice deploy --stage dev` leaves behind that `deploy` reads: a REST API and its record."""

    def run(arguments: list[str]) -> None:
        assert arguments == ["deploy", "--stage", "dev"]
        apigateway = boto3.client("apigateway")
        api_id = apigateway.create_rest_api(name="emma-segment")["id"]
        root = apigateway.get_resources(restApiId=api_id)["items"][0]["id"]
        apigateway.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigateway.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK")
        apigateway.create_deployment(restApiId=api_id, stageName="api")
        deployed = {"resources": [{"name": "rest_api", "resource_type": "rest_api", "rest_api_id": api_id}]}
        (project / ".chalice" / "deployed").mkdir()
        (project / ".chalice" / "deployed" / "dev.json").write_text(json.dumps(deployed))

    return run


def test_deploy_provisions_writes_the_outputs_and_puts_the_gateway_responses(aws: None, project: Path) -> None:
    deploy("dev", project_dir=project, run_chalice=stand_in_for_chalice_deploy(project))

    environment = stage_settings(load_config(project), "dev")["environment_variables"]
    assert environment["TOPIC_ARN_TRACK"] == f"arn:aws:sns:us-east-1:{MOTO_ACCOUNT}:emma-segment-dev-track"
    assert boto3.client("dynamodb").describe_table(TableName=environment["API_KEYS_TABLE"])
    # The policies now name the same account's topics, tables and log groups, and still grant exactly the calls.
    program = Program()
    names = function_names("dev")
    policies = {path.name: json.loads(path.read_text()) for path in policy_files(project, "dev")}
    assert set(policies) == {"policy-dev.json", "policy-dev-authorizer.json"}
    for name, policy in (("api_handler", "policy-dev.json"), ("api_key_authorizer", "policy-dev-authorizer.json")):
        calls = program.calls(program.lambdas()[name])
        assert policy_problems(policies[policy], calls, environment, names[name]) == []
    [api] = boto3.client("apigateway").get_rest_apis()["items"]
    put = {
        item["responseType"]: item
        for item in boto3.client("apigateway").get_gateway_responses(restApiId=api["id"])["items"]
    }
    for kind, response in gateway_responses().items():
        assert put[kind]["responseTemplates"] == response["responseTemplates"]
    assert boto3.client("apigateway").get_stage(restApiId=api["id"], stageName="api")


def test_deploy_throttles_the_stage_and_each_account_by_the_key_its_authorizer_names(aws: None, project: Path) -> None:
    # GIVEN the dev stage's throttling settings
    settings = stage_settings(load_config(project), "dev")
    stage_limit, account, batch = (
        gateway_limits.throttle(settings, name)
        for name in ("api_gateway_throttling", "account_throttling", "account_batch_throttling")
    )

    # WHEN it is deployed twice (the second deploy finds everything in place)
    deploy("dev", project_dir=project, run_chalice=stand_in_for_chalice_deploy(project))
    apigateway = boto3.client("apigateway")
    [api] = apigateway.get_rest_apis()["items"]
    table = settings["environment_variables"]["API_KEYS_TABLE"]

    def keys_already_in_the_plan(arguments: list[str]) -> None:
        # (what Chalice deploys requires every event's key: a deploy must not start without them)
        [plan] = apigateway.get_usage_plans()["items"]
        in_plan = apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]
        assert sorted(key["value"] for key in in_plan) == usage_keys(table)

    deploy("dev", project_dir=project, run_chalice=keys_already_in_the_plan)

    # THEN the stage has its throttle
    method_settings = apigateway.get_stage(restApiId=api["id"], stageName="api")["methodSettings"]["*/*"]
    assert (method_settings["throttlingRateLimit"], method_settings["throttlingBurstLimit"]) == (
        stage_limit.rate_limit,
        stage_limit.burst_limit,
    )
    # AND one usage plan holds each account to its limits, batches to theirs, on this API's stage
    [plan] = apigateway.get_usage_plans()["items"]
    assert plan["name"] == "emma-segment-dev-accounts"
    assert plan["throttle"] == {"rateLimit": account.rate_limit, "burstLimit": account.burst_limit}
    assert plan["apiStages"] == [
        {
            "apiId": api["id"],
            "stage": "api",
            "throttle": {"/v1/batch/POST": {"rateLimit": batch.rate_limit, "burstLimit": batch.burst_limit}},
        }
    ]
    # AND every key the authorizer can name is in it, once: any account's, whichever it is
    keys = apigateway.get_api_keys(includeValues=True, limit=500)["items"]
    assert sorted(key["value"] for key in keys) == usage_keys(table)
    in_plan = apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]
    assert sorted(key["value"] for key in in_plan) == usage_keys(table)
    assert {usage_key(table, account_id) for account_id in ("1", "42", "acct-9001")} <= set(usage_keys(table))


def test_usage_keys_fill_the_plan_a_packaged_stack_made_once_and_refuse_a_stage_without_one(
    aws: None, project: Path
) -> None:
    # GIVEN no usage plan yet, WHEN its keys are asked for, THEN it says what to do first
    with pytest.raises(DeployError, match="no usage plan emma-segment-dev-accounts"):
        sync_usage_keys("dev", project)

    # GIVEN the plan as the packaged template makes it (no keys)
    apigateway = boto3.client("apigateway")
    plan = apigateway.create_usage_plan(name="emma-segment-dev-accounts", throttle={"rateLimit": 1, "burstLimit": 1})

    # WHEN its keys are made, twice
    created = [sync_usage_keys("dev", project) for _ in range(2)]

    # THEN every bucket's key is made the first time, none the second, and each is in the plan
    table = stage_settings(load_config(project), "dev")["environment_variables"]["API_KEYS_TABLE"]
    assert created == [len(usage_keys(table)), 0]
    in_plan = apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500)["items"]
    assert sorted(key["value"] for key in in_plan) == usage_keys(table)


@pytest.mark.parametrize(
    ("throttling", "refusal"),
    [
        ({"account_throttling": {"rate_limt": 5}}, r"unknown account_throttling settings \['rate_limt'\]"),
        ({"api_gateway_throttling": {"rate_limit": 0}}, "api_gateway_throttling .* rate_limit must be above 0"),
        ({"account_batch_throttling": {"burst_limit": 2.5}}, "burst_limit a whole number"),
    ],
)
def test_throttling_settings_the_gateway_cannot_take_are_refused_before_anything_is_deployed(
    aws: None, project: Path, throttling: dict[str, Any], refusal: str
) -> None:
    # GIVEN the dev stage with a misspelt or impossible throttling setting
    config = load_config(project)
    config["stages"]["dev"].update(throttling)
    (project / ".chalice" / "config.json").write_text(json.dumps(config))

    def never(arguments: list[str]) -> None:
        raise AssertionError("chalice deploy ran")

    # WHEN it is deployed, THEN it is refused, saying why, and nothing was created
    with pytest.raises(gateway_limits.LimitsError, match=refusal):
        deploy("dev", project_dir=project, run_chalice=never)
    assert not boto3.client("cloudformation").list_stacks()["StackSummaries"]


def test_deploy_refuses_the_placeholder_certificate(aws: None, project: Path) -> None:
    def never(arguments: list[str]) -> None:
        raise AssertionError("chalice deploy ran")

    with pytest.raises(DeployError, match="certificate_arn"):
        deploy("prod", project_dir=project, run_chalice=never)
    assert not boto3.client("cloudformation").list_stacks()["StackSummaries"]


def test_deploy_refuses_a_runtime_this_python_cannot_build_for_before_creating_anything(
    aws: None, project: Path
) -> None:
    # GIVEN a stage that declares a runtime other than this interpreter's
    config = load_config(project)
    config["stages"]["dev"]["lambda_python_version"] = "python3.99"
    (project / ".chalice" / "config.json").write_text(json.dumps(config))

    def never(arguments: list[str]) -> None:
        raise AssertionError("chalice deploy ran")

    # WHEN it is deployed, THEN it is refused with what to do, and nothing was created
    with pytest.raises(PackageError, match=r"PYTHON=python3\.99"):
        deploy("dev", project_dir=project, run_chalice=never)
    assert not boto3.client("cloudformation").list_stacks()["StackSummaries"]
