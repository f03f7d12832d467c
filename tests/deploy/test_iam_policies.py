"""Each Lambda function's IAM role grants exactly the AWS calls its code makes, on the stage's resources.

The calls are read from the code (tools/aws_calls.py), never listed by hand: a
new boto3 call fails these tests until the policy grants it, and a grant no
code needs fails them too.
"""

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import STAGES
from tests.deploy.policies import policy_problems
from tools.aws_calls import API_HANDLER, Program

PROGRAM = Program()


def deployed_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's Lambda functions by the name the code's entry points give them."""
    functions = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            handler = resource["Properties"]["Handler"]
            functions[API_HANDLER if handler == "app.app" else handler.removeprefix("app.")] = resource["Properties"]
    return functions


def role_policy(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """The function's role's inline policies, as one document."""
    role_id = function["Role"]["Fn::GetAtt"][0]
    policies = template["Resources"][role_id]["Properties"].get("Policies", [])
    statements = [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]
    return {"Version": "2012-10-17", "Statement": statements}


def problems_of(template: dict[str, Any], name: str) -> list[str]:
    function = deployed_functions(template)[name]
    calls = PROGRAM.calls(PROGRAM.lambdas()[name])
    environment = function["Environment"]["Variables"]
    return policy_problems(role_policy(template, function), calls, environment, function["FunctionName"])


@pytest.mark.parametrize("stage", STAGES)
def test_every_lambda_function_of_the_app_is_deployed_with_its_own_role(
    stage: str, packaged: dict[str, dict[str, Any]]
) -> None:
    functions = deployed_functions(packaged[stage])
    assert set(functions) == set(PROGRAM.lambdas())
    assert len({str(function["Role"]) for function in functions.values()}) == len(functions)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("function", sorted(PROGRAM.lambdas()))
def test_each_role_grants_exactly_what_its_code_calls(
    stage: str, function: str, packaged: dict[str, dict[str, Any]]
) -> None:
    assert problems_of(packaged[stage], function) == []


def test_the_derived_calls_are_the_ones_the_service_makes_today() -> None:
    """A pin on the reading itself: if it found nothing, the policy tests would prove nothing."""
    assert PROGRAM.calls(PROGRAM.lambdas()[API_HANDLER]).actions == {
        "sns:Publish",  # events, one by one and in batches
        "dynamodb:GetItem",  # Enable with Segment: is the destination's key an active one of the account?
        "dynamodb:PutItem",  # ... it mints a key for the destination; deduplication: claims and rounds' receipts
        "dynamodb:UpdateItem",  # ... and disables one Segment refused
        "dynamodb:BatchGetItem",  # deduplication: what a batch sent again has published already, and receipts
        "dynamodb:PartiQLInsert",  # deduplication: a batch's claims, 25 INSERTs to a BatchExecuteStatement
        "dynamodb:PartiQLUpdate",  # ... claims taken over, each UPDATE on the condition of who holds it
        "dynamodb:PartiQLDelete",  # ... claims released, each DELETE on the condition of who holds it
        "secretsmanager:GetSecretValue",  # webhook secrets, and secrets referenced by ARN
        "ssm:GetParameter",  # secrets referenced as ssm:/name
    }
    assert PROGRAM.calls(PROGRAM.lambdas()["api_key_authorizer"]).actions == {"dynamodb:GetItem"}
    # The key command is operator tooling: its writes are not the Lambda functions' business.
    assert PROGRAM.calls(["chalicelib.keys.__main__.main"]).actions == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Scan",
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
    }


def test_a_grant_no_code_needs_is_a_problem(packaged: dict[str, dict[str, Any]]) -> None:
    template = copy.deepcopy(packaged["prod"])
    policy = role_policy(template, deployed_functions(template)["api_key_authorizer"])
    role_id = deployed_functions(template)["api_key_authorizer"]["Role"]["Fn::GetAtt"][0]
    [document] = [p["PolicyDocument"] for p in template["Resources"][role_id]["Properties"]["Policies"]]
    document["Statement"][1]["Action"] = [*policy["Statement"][1]["Action"], "dynamodb:PutItem"]
    assert problems_of(template, "api_key_authorizer") == [
        "grants dynamodb:PutItem on arn:aws:dynamodb:us-east-1:111111111111:table/emma-segment-prod-api-keys,"
        " which the code never does",
        "grants ['dynamodb:PutItem'], which the code never calls",
    ]


def test_a_table_granted_an_action_the_code_makes_only_on_another_table_is_a_problem(
    packaged: dict[str, dict[str, Any]],
) -> None:
    # GIVEN the view's policy lets it batch-read the key table (it only does so on the dedup table)
    template = copy.deepcopy(packaged["prod"])
    role_id = deployed_functions(template)[API_HANDLER]["Role"]["Fn::GetAtt"][0]
    [document] = [p["PolicyDocument"] for p in template["Resources"][role_id]["Properties"]["Policies"]]
    keys = next(
        statement for statement in document["Statement"] if statement["Sid"] == "MintKeysForSegmentDestinations"
    )
    keys["Action"] = [*keys["Action"], "dynamodb:BatchGetItem"]
    # THEN the per-table check finds it, though the service as a whole does call BatchGetItem
    assert problems_of(template, API_HANDLER) == [
        "grants dynamodb:BatchGetItem on arn:aws:dynamodb:us-east-1:111111111111:table/emma-segment-prod-api-keys,"
        " which the code never does"
    ]


@pytest.mark.parametrize(
    ("resource", "problem"),
    [
        ("*", "grants sns on ['*'], which the code does not use"),
        ("arn:aws:sns:us-east-1:111111111111:someone-elses-topic", "which the code does not use"),
    ],
)
def test_a_resource_beyond_the_configured_topics_is_a_problem(
    resource: str, problem: str, packaged: dict[str, dict[str, Any]]
) -> None:
    template = copy.deepcopy(packaged["prod"])
    role_id = deployed_functions(template)[API_HANDLER]["Role"]["Fn::GetAtt"][0]
    [document] = [p["PolicyDocument"] for p in template["Resources"][role_id]["Properties"]["Policies"]]
    document["Statement"][1]["Resource"].append(resource)
    [found] = problems_of(template, API_HANDLER)
    assert problem in found


def test_a_new_aws_call_in_the_code_is_found_and_an_unreadable_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "__init__.py").write_text("")
    (tmp_path / "chalicelib" / "secrets.py").write_text(
        "import boto3\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mypy_boto3_dynamodb import DynamoDBClient\n"
        "class Dedup:\n"
        "    def __init__(self, client: 'DynamoDBClient') -> None:\n"
        "        self._client = client\n"
        "    def claim(self) -> None:\n"
        "        self._client.put_item(TableName='t', Item={})\n"
        "    def unused(self) -> None:\n"
        "        self._client.delete_item(TableName='t', Key={})\n"
        "def secret(thing: object) -> None:\n"
        "    boto3.client('kms').decrypt(CiphertextBlob=b'')\n"
        "    Dedup(boto3.client('dynamodb')).claim()\n"
        "    thing.encrypt(Plaintext=b'')  # type: ignore[attr-defined]\n"
    )
    (tmp_path / "app.py").write_text(
        "from chalice import Chalice\n"
        "app = Chalice(app_name='x')\n"
        "@app.route('/')\n"
        "def index() -> None:\n"
        "    from chalicelib.secrets import secret\n"
        "    secret(None)\n"
    )
    program = Program(tmp_path)
    calls = program.calls(program.lambdas()[API_HANDLER])
    assert calls.actions == {"kms:Decrypt", "dynamodb:PutItem"}
    [unresolved] = calls.unresolved
    assert unresolved.startswith("chalicelib/secrets.py:15 thing.encrypt")
