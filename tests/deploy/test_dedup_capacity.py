"""The dedup table's capacity: on-demand by default, provisioned with auto scaling as a stage's choice.

The template is read as CloudFormation creates it for given parameters: conditions applied,
`Ref`s to parameters and `Fn::If`s resolved. moto's CloudFormation creates the table but not
the scaling resources, so `make deploy`'s part is checked on moto through the table alone.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode
from moto import mock_aws

from tools.deploy import INFRA_TEMPLATE, DeployError, load_config, provision_stack, stage_settings

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS..CloudWatch..Alarm", "ignore:Tried to parse AWS..ApplicationAutoScaling"
)
TEMPLATE, _ = decode(str(INFRA_TEMPLATE))
# The defaults docs/deploying.md gives ("The dedup table's capacity").
DOCUMENTED_DEFAULTS = {
    "DedupBillingMode": "on-demand",
    "DedupMinWriteCapacity": 5,
    "DedupMaxWriteCapacity": 1000,
    "DedupMinReadCapacity": 5,
    "DedupMaxReadCapacity": 200,
    "DedupTargetUtilization": 70,
    "DedupWarmWriteUnits": 0,
    "DedupWarmReadUnits": 0,
}
SERVICE_LINKED_ROLE = (
    ":role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"
)
WRITES, READS = "dynamodb:table:WriteCapacityUnits", "dynamodb:table:ReadCapacityUnits"
_NO_VALUE = object()


def as_created(parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's resources as CloudFormation creates them for `parameters`, the others at their defaults."""
    values = {name: declared.get("Default") for name, declared in TEMPLATE["Parameters"].items()} | parameters
    conditions: dict[str, bool] = {}

    def resolved(node: Any) -> Any:
        if isinstance(node, list):
            return [resolved(item) for item in node]
        if isinstance(node, dict):
            functions = ({"Ref"}, {"Fn::If"}, {"Fn::Equals"}, {"Fn::Not"}, {"Fn::Or"})
            return function(node) if node.keys() in functions else mapping(node)
        return node

    def function(node: dict[str, Any]) -> Any:
        [(name, argument)] = node.items()
        if name == "Ref":
            # A resource's Ref is left as it is.
            return _NO_VALUE if argument == "AWS::NoValue" else values.get(argument, node)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return resolved(when_true if conditions[condition] else when_false)
        if name == "Fn::Not":
            return not resolved(argument[0])
        if name == "Fn::Or":
            return any(resolved(argument))
        left, right = resolved(argument)
        return str(left) == str(right)

    def mapping(node: dict[str, Any]) -> dict[str, Any]:
        properties = {key: resolved(value) for key, value in node.items()}
        return {key: value for key, value in properties.items() if value is not _NO_VALUE}

    for name, condition in TEMPLATE["Conditions"].items():
        conditions[name] = resolved(condition)
    return {
        name: resolved(resource)
        for name, resource in TEMPLATE["Resources"].items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == kind}


def test_the_capacity_parameters_have_the_documented_defaults() -> None:
    parameters = TEMPLATE["Parameters"]
    assert {name: parameters[name]["Default"] for name in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS
    # The target utilizations DynamoDB auto scaling accepts.
    utilization = parameters["DedupTargetUtilization"]
    assert (utilization["MinValue"], utilization["MaxValue"]) == (20, 90)


def test_by_default_the_dedup_table_is_on_demand_and_nothing_scales_it() -> None:
    # GIVEN the stack's parameters at their defaults, WHEN CloudFormation creates it
    resources = as_created({})

    # THEN the dedup table is billed per request, with no capacity, and there is nothing to scale
    table = resources["DedupTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in table
    assert not [resource for resource in resources.values() if "ApplicationAutoScaling" in resource["Type"]]


@pytest.mark.parametrize(
    "chosen",
    [
        {},
        {"DedupMinWriteCapacity": "10", "DedupMaxWriteCapacity": "400", "DedupMinReadCapacity": "2"},
        {"DedupMaxReadCapacity": "50", "DedupTargetUtilization": "50"},
    ],
)
def test_provisioned_capacity_scales_the_dedup_tables_writes_and_reads(chosen: dict[str, str]) -> None:
    # GIVEN provisioned capacity, with some bounds chosen and the others at their defaults
    parameters = {"DedupBillingMode": "provisioned", **chosen}
    expected = DOCUMENTED_DEFAULTS | parameters

    # WHEN CloudFormation creates the stack
    resources = as_created(parameters)

    # THEN the table starts at its minimums
    table = resources["DedupTable"]["Properties"]
    assert table["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"] == {
        "ReadCapacityUnits": expected["DedupMinReadCapacity"],
        "WriteCapacityUnits": expected["DedupMinWriteCapacity"],
    }
    # AND auto scaling keeps each of its writes and reads between their bounds, through its service-linked role
    targets = of_type(resources, "AWS::ApplicationAutoScaling::ScalableTarget")
    assert {
        target["ScalableDimension"]: (target["MinCapacity"], target["MaxCapacity"]) for target in targets.values()
    } == {
        WRITES: (expected["DedupMinWriteCapacity"], expected["DedupMaxWriteCapacity"]),
        READS: (expected["DedupMinReadCapacity"], expected["DedupMaxReadCapacity"]),
    }
    for target in targets.values():
        assert target["ServiceNamespace"] == "dynamodb"
        assert target["ResourceId"] == {"Fn::Sub": "table/${DedupTable}"}
        assert target["RoleARN"]["Fn::Sub"].endswith(SERVICE_LINKED_ROLE)
    # AND tracks the target utilization of each
    policies = of_type(resources, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    assert {policy["PolicyType"] for policy in policies} == {"TargetTrackingScaling"}
    tracked: dict[str, tuple[Any, str]] = {}
    for policy in policies:
        configuration = policy["TargetTrackingScalingPolicyConfiguration"]
        metric = configuration["PredefinedMetricSpecification"]["PredefinedMetricType"]
        tracked[targets[policy["ScalingTargetId"]["Ref"]]["ScalableDimension"]] = (configuration["TargetValue"], metric)
    target_value = expected["DedupTargetUtilization"]
    assert tracked == {
        WRITES: (target_value, "DynamoDBWriteCapacityUtilization"),
        READS: (target_value, "DynamoDBReadCapacityUtilization"),
    }


@pytest.mark.parametrize(
    ("chosen", "warm"),
    [
        ({}, None),
        ({"DedupWarmWriteUnits": "20000"}, {"WriteUnitsPerSecond": "20000", "ReadUnitsPerSecond": 12000}),
        ({"DedupWarmReadUnits": "30000"}, {"WriteUnitsPerSecond": 4000, "ReadUnitsPerSecond": "30000"}),
        (
            {"DedupWarmWriteUnits": "10000", "DedupWarmReadUnits": "20000", "DedupBillingMode": "provisioned"},
            {"WriteUnitsPerSecond": "10000", "ReadUnitsPerSecond": "20000"},
        ),
    ],
)
def test_warm_throughput_is_set_only_when_the_stage_asks_the_rest_at_a_new_tables_own(
    chosen: dict[str, str], warm: dict[str, Any] | None
) -> None:
    # GIVEN warm writes, warm reads, both, or neither, WHEN CloudFormation creates the stack
    table = as_created(chosen)["DedupTable"]["Properties"]

    # THEN the table is warmed to what was chosen, the other at what DynamoDB gives a new on-demand table
    assert table.get("WarmThroughput") == warm


def test_the_template_with_provisioned_capacity_passes_cfn_lint(tmp_path: Path) -> None:
    # GIVEN the template with provisioned capacity as its default
    template = json.loads(json.dumps(TEMPLATE))
    template["Parameters"]["DedupBillingMode"]["Default"] = "provisioned"
    path = tmp_path / "resources.json"
    path.write_text(json.dumps(template))

    # WHEN cfn-lint reads it, THEN it finds nothing
    assert [str(match) for match in lint_file(path, config=ManualArgs(regions=["us-east-1"]))] == []


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def dev_settings_with(capacity: dict[str, Any] | None) -> dict[str, Any]:
    """The dev stage's settings, with these `dedup_table_capacity` settings or none."""
    settings = dict(stage_settings(load_config(), "dev"))
    settings.pop("dedup_table_capacity", None)
    return settings if capacity is None else settings | {"dedup_table_capacity": capacity}


def dedup_parameters_and_table(outputs: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
    """The dev stack's dedup table parameters, and the table as DynamoDB describes it."""
    [stack] = boto3.client("cloudformation").describe_stacks(StackName="emma-segment-dev-resources")["Stacks"]
    parameters = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in stack["Parameters"]}
    table = boto3.client("dynamodb").describe_table(TableName=outputs["DedupTable"])["Table"]
    return {name: parameters[name] for name in DOCUMENTED_DEFAULTS}, dict(table)


@pytest.mark.parametrize("capacity", [None, {"mode": "on-demand"}])
def test_a_stage_that_does_not_choose_provisioned_keeps_its_dedup_table_on_demand(
    aws: None, capacity: dict[str, Any] | None
) -> None:
    # GIVEN the dev stage without dedup_table_capacity settings, or saying on-demand
    settings = dev_settings_with(capacity)

    # WHEN its resource stack is provisioned
    outputs = provision_stack("dev", "emma-segment", settings)

    # THEN the stack's capacity parameters are the defaults, and the table is billed per request
    parameters, table = dedup_parameters_and_table(outputs)
    assert parameters == {name: str(value) for name, value in DOCUMENTED_DEFAULTS.items()}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_stages_provisioned_capacity_reaches_the_stack(aws: None) -> None:
    # GIVEN the dev stage with provisioned capacity, some of its bounds chosen
    capacity = {
        "mode": "provisioned",
        "min_write_capacity": 20,
        "max_write_capacity": 300,
        "target_utilization": 60,
        "warm_write_units": 20000,
    }
    settings = dev_settings_with(capacity)

    # WHEN its resource stack is provisioned
    outputs = provision_stack("dev", "emma-segment", settings)

    # THEN the stack has the chosen parameters and the defaults of the others
    parameters, table = dedup_parameters_and_table(outputs)
    assert parameters == {name: str(value) for name, value in DOCUMENTED_DEFAULTS.items()} | {
        "DedupBillingMode": "provisioned",
        "DedupMinWriteCapacity": "20",
        "DedupMaxWriteCapacity": "300",
        "DedupTargetUtilization": "60",
        "DedupWarmWriteUnits": "20000",
    }
    # AND the table is provisioned at its minimums
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    throughput = table["ProvisionedThroughput"]
    assert (throughput["WriteCapacityUnits"], throughput["ReadCapacityUnits"]) == (20, 5)


@pytest.mark.parametrize(
    ("capacity", "refusal"),
    [
        (
            {"mode": "provisioned", "min_write_capacty": 20},
            r"unknown dedup_table_capacity settings \['min_write_capacty'\]",
        ),
        ({"mode": "provisioned", "max_write_capacity": 3}, "min_write_capacity 5 is above max_write_capacity 3"),
        ({"mode": "provisioned", "min_read_capacity": 500}, "min_read_capacity 500 is above max_read_capacity 200"),
    ],
)
def test_capacity_settings_the_stack_cannot_take_are_refused_before_anything_is_deployed(
    aws: None, capacity: dict[str, Any], refusal: str
) -> None:
    # GIVEN the dev stage with a misspelt setting, or a minimum above its maximum (given or default)
    settings = dev_settings_with(capacity)

    # WHEN its resource stack is provisioned, THEN it is refused, saying why, and nothing was created
    with pytest.raises(DeployError, match=refusal):
        provision_stack("dev", "emma-segment", settings)
    assert not boto3.client("cloudformation").list_stacks()["StackSummaries"]
