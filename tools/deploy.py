"""Deploy a stage to AWS, or package it for CloudFormation.

    python -m tools.deploy deploy --stage prod [--fifo]   # what `make deploy STAGE=prod` runs
    python -m tools.deploy infra --stage prod [--fifo]    # steps 1 and 2 only
    python -m tools.deploy package --stage prod --out build/prod

`deploy` does, in order:
1. create or update the stage's resource stack from `infra/resources.yaml`
   (topics, API-key table, deduplication table and its capacity, alarms) and
   wait for it;
2. write the stack's outputs into the stage's environment in
   `.chalice/config.json`, and point the stage's IAM policy files at the same
   topics, tables, account and region;
3. prepare the package both functions run (`tools.lambda_package`: bytecode
   for the stage's runtime, so that no cold start compiles) and run
   `chalice deploy --stage <stage>` (the API, both Lambda functions, their
   roles, log groups and the custom domain), which uploads that package;
4. put `infra/gateway-responses.json` on the REST API, and the stage's
   throttles and its accounts' usage plan and keys (`tools.gateway_limits`),
   and redeploy its stage. Chalice replaces the whole API definition on every
   deploy, which resets gateway responses to API Gateway's defaults (whose 403
   for an unknown path echoes the Authorization header), so this step follows
   every deploy. When the stage was deployed before, the limits are also put
   before step 3: the API it deploys requires each event's usage plan key.

Chalice runs as `tools.chalice_cli`, whose API definition takes those keys
from the authorizer.

`package` prepares the same package and runs `chalice package
--merge-template` with a template that adds the same gateway responses,
throttles and usage plan to the API (so CloudFormation keeps them),
and names the functions and their log groups as `chalice deploy` does, which
the IAM policies' log permissions name. The usage plan's keys are then made by

    python -m tools.deploy usage-keys --stage prod
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from cfnlint.decode import decode
from chalice.utils import to_cfn_resource_name

from tools import gateway_limits, lambda_package
from tools.aws_calls import API_HANDLER, Program
from tools.lambda_package import PackageError

REPO = Path(__file__).resolve().parent.parent
CHALICE_DIR = REPO / ".chalice"
INFRA_TEMPLATE = REPO / "infra" / "resources.yaml"
GATEWAY_RESPONSES = REPO / "infra" / "gateway-responses.json"
# The certificate in the committed configuration: the real one is filled in by hand.
PLACEHOLDER_CERTIFICATE = "certificate/00000000-0000-0000-0000-000000000000"
_ARN_LOCATION = re.compile(r"^arn:aws:(sns|dynamodb|logs|secretsmanager|ssm):[^:]*:[^:]*:")
# Each key of a stage's `dedup_table_capacity` settings, and the resource stack's parameter it sets
# (infra/resources.yaml has their defaults). The stage's settings hold them rather than a `make`
# variable: CloudFormation sets a parameter a deploy leaves out back to its default, so a variable
# forgotten once would switch a provisioned table back to on-demand.
DEDUP_CAPACITY_PARAMETERS = {
    "mode": "DedupBillingMode",
    "min_write_capacity": "DedupMinWriteCapacity",
    "max_write_capacity": "DedupMaxWriteCapacity",
    "min_read_capacity": "DedupMinReadCapacity",
    "max_read_capacity": "DedupMaxReadCapacity",
    "target_utilization": "DedupTargetUtilization",
    "warm_write_units": "DedupWarmWriteUnits",
    "warm_read_units": "DedupWarmReadUnits",
}

RunChalice = Callable[[list[str]], None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, description in (
        ("deploy", "provision the stage's resources and deploy the app"),
        ("infra", "provision the stage's resources and write them into its configuration"),
    ):
        command = commands.add_parser(name, help=description)
        command.add_argument("--stage", required=True)
        command.add_argument("--fifo", action="store_true", help="FIFO topics (see infra/resources.yaml)")
    usage_keys_command = commands.add_parser(
        "usage-keys", help="create the stage's usage plan keys the accounts are throttled by, where missing"
    )
    usage_keys_command.add_argument("--stage", required=True)
    package_command = commands.add_parser("package", help="a CloudFormation (SAM) template of the app")
    package_command.add_argument("--stage", required=True)
    package_command.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "package":
            package(args.stage, args.out)
        elif args.command == "infra":
            provision(args.stage, fifo=args.fifo)
        elif args.command == "usage-keys":
            print(f"created {sync_usage_keys(args.stage)} usage plan keys")
        else:
            deploy(args.stage, fifo=args.fifo)
    except (DeployError, PackageError, gateway_limits.LimitsError) as error:
        print(f"deploy: {error}", file=sys.stderr)
        return 1
    return 0


class DeployError(Exception):
    """Something an operator has to fix before the stage can be deployed."""


def deploy(
    stage: str,
    *,
    fifo: bool = False,
    project_dir: Path = REPO,
    run_chalice: RunChalice | None = None,
) -> None:
    settings = stage_settings(load_config(project_dir), stage)
    _check_filled_in(settings)
    lambda_package.check_runtime(settings)
    gateway_limits.check(settings)
    provision(stage, fifo=fifo, project_dir=project_dir)
    if (project_dir / ".chalice" / "deployed" / f"{stage}.json").exists():
        # The API Chalice is about to put requires a usage plan key on every event: the plan and
        # its keys must be there first, or the stage would refuse events 403 until step 4.
        settings = stage_settings(load_config(project_dir), stage)
        gateway_limits.apply(
            _apigateway(),
            deployed_rest_api(project_dir, stage),
            settings.get("api_gateway_stage", "api"),
            stage,
            settings,
        )
    (run_chalice or _chalice_on_prepared_package(project_dir, stage))(["deploy", "--stage", stage])
    rest_api_id = deployed_rest_api(project_dir, stage)
    apply_gateway_settings(rest_api_id, stage, stage_settings(load_config(project_dir), stage))
    print(f"deployed stage {stage}: REST API {rest_api_id}")


def provision(stage: str, *, fifo: bool = False, project_dir: Path = REPO) -> None:
    """The stage's resource stack, and its names and ARNs in the stage's configuration and policies."""
    config = load_config(project_dir)
    outputs = provision_stack(stage, config["app_name"], stage_settings(config, stage), fifo=fifo)
    write_stage_outputs(project_dir, stage, outputs)


def load_config(project_dir: Path = REPO) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return config


def stage_settings(config: dict[str, Any], stage: str) -> dict[str, Any]:
    if stage not in config["stages"]:
        raise DeployError(f"no stage {stage!r} in .chalice/config.json")
    settings: dict[str, Any] = config["stages"][stage]
    return settings


def stack_name(stage: str) -> str:
    return f"emma-segment-{stage}-resources"


def provision_stack(stage: str, app_name: str, settings: dict[str, Any], *, fifo: bool = False) -> dict[str, str]:
    """Create or update the stage's resource stack; its outputs once it is complete."""
    cloudformation = boto3.client("cloudformation")
    name = stack_name(stage)
    parameters = {
        "Stage": stage,
        "FifoTopics": "true" if fifo else "false",
        "ApiName": app_name,
        "ApiStage": settings.get("api_gateway_stage", "api"),
        **dedup_capacity_parameters(settings),
    }
    request = {
        "StackName": name,
        "TemplateBody": INFRA_TEMPLATE.read_text(),
        "Parameters": [{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
        "Tags": [{"Key": "app", "Value": "emma-segment"}, {"Key": "stage", "Value": stage}],
    }
    try:
        cloudformation.describe_stacks(StackName=name)
    except ClientError:
        cloudformation.create_stack(**request, EnableTerminationProtection=stage == "prod")
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name)
    else:
        try:
            cloudformation.update_stack(**request)
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
        else:
            cloudformation.get_waiter("stack_update_complete").wait(StackName=name)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def dedup_capacity_parameters(settings: dict[str, Any]) -> dict[str, str]:
    """The resource stack's parameters for the stage's `dedup_table_capacity` settings, checked."""
    capacity: dict[str, Any] = settings.get("dedup_table_capacity", {})
    unknown = sorted(set(capacity) - set(DEDUP_CAPACITY_PARAMETERS))
    if unknown:
        raise DeployError(
            f"unknown dedup_table_capacity settings {unknown} in .chalice/config.json "
            f"(known: {', '.join(DEDUP_CAPACITY_PARAMETERS)})"
        )
    parameters = {DEDUP_CAPACITY_PARAMETERS[key]: str(value) for key, value in capacity.items()}
    _check_capacity_bounds(parameters)
    return parameters


def _check_capacity_bounds(parameters: dict[str, str]) -> None:
    """Each minimum at most its maximum, defaults included, before anything is deployed.

    Application Auto Scaling would refuse it only once the table had switched to provisioned, and
    the rollback would switch it back: DynamoDB allows that four times in 24 hours.
    """
    declared = template_parameters()
    for unit in ("write", "read"):
        names = (f"DedupMin{unit.title()}Capacity", f"DedupMax{unit.title()}Capacity")
        low, high = (float(parameters.get(name, declared[name]["Default"])) for name in names)
        if low > high:
            raise DeployError(
                f"dedup_table_capacity in .chalice/config.json: min_{unit}_capacity {low:g} "
                f"is above max_{unit}_capacity {high:g}"
            )


def template_parameters() -> dict[str, dict[str, Any]]:
    """The resource stack's parameters as infra/resources.yaml declares them."""
    template, _ = decode(str(INFRA_TEMPLATE))
    parameters: dict[str, dict[str, Any]] = template["Parameters"]
    return parameters


def environment_name(output_key: str) -> str:
    """The environment variable a stack output fills: `TopicArnIdentify` is `TOPIC_ARN_IDENTIFY`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", output_key).upper()


def write_stage_outputs(project_dir: Path, stage: str, outputs: dict[str, str]) -> None:
    """The stack's names and ARNs into the stage's environment, and its IAM policies."""
    config = load_config(project_dir)
    environment: dict[str, str] = stage_settings(config, stage)["environment_variables"]
    renamed: dict[str, str] = {}  # a topic's ARN, or a table's name, as the configuration had it -> the stack's
    for key, value in outputs.items():
        variable = environment_name(key)
        if variable in environment:
            renamed[environment[variable]] = value
            environment[variable] = value
    _write_json(project_dir / ".chalice" / "config.json", config)
    topic = next(value for value in outputs.values() if value.startswith("arn:aws:sns:"))
    _, _, _, region, account, _ = topic.split(":", 5)
    for path in policy_files(project_dir, stage):
        policy = json.loads(path.read_text())
        for statement in policy["Statement"]:
            statement["Resource"] = [
                _located(_renamed(resource, renamed), region, account) for resource in _as_list(statement["Resource"])
            ]
        _write_json(path, policy)


def _renamed(resource: str, renamed: dict[str, str]) -> str:
    """A policy's resource naming a topic or a table the stack now names otherwise."""
    if resource in renamed:
        return renamed[resource]
    arn, table_part, table = resource.partition(":table/")
    return f"{arn}:table/{renamed[table]}" if table_part and table in renamed else resource


def _located(resource: str, region: str, account: str) -> str:
    """An ARN of the services the functions use, in the stack's region and account."""
    return _ARN_LOCATION.sub(lambda match: f"arn:aws:{match[1]}:{region}:{account}:", resource, count=1)


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def policy_files(project_dir: Path, stage: str) -> list[Path]:
    """The IAM policy file of each of the stage's Lambda functions."""
    settings = stage_settings(load_config(project_dir), stage)
    names = {settings.get("iam_policy_file", f"policy-{stage}.json")}
    names.update(
        function["iam_policy_file"]
        for function in settings.get("lambda_functions", {}).values()
        if "iam_policy_file" in function
    )
    return [project_dir / ".chalice" / name for name in sorted(names)]


def deployed_rest_api(project_dir: Path, stage: str) -> str:
    """The id of the REST API `chalice deploy` created or updated for `stage`."""
    deployed = json.loads((project_dir / ".chalice" / "deployed" / f"{stage}.json").read_text())
    for resource in deployed["resources"]:
        if resource["resource_type"] == "rest_api":
            return str(resource["rest_api_id"])
    raise DeployError(f"chalice deployed no REST API for stage {stage}")


def gateway_responses() -> dict[str, dict[str, Any]]:
    responses: dict[str, dict[str, Any]] = json.loads(GATEWAY_RESPONSES.read_text())
    return responses


def apply_gateway_settings(rest_api_id: str, stage: str, settings: dict[str, Any]) -> None:
    """Put the gateway responses and the limits on the API and deploy its stage, so that they take effect."""
    apigateway = _apigateway()
    api_stage = settings.get("api_gateway_stage", "api")
    for response_type, response in gateway_responses().items():
        apigateway.put_gateway_response(restApiId=rest_api_id, responseType=response_type, **response)
    apigateway.create_deployment(restApiId=rest_api_id, stageName=api_stage, description="gateway responses and limits")
    created = gateway_limits.apply(apigateway, rest_api_id, api_stage, stage, settings)
    print(f"stage {stage}: throttles set, {created} usage plan keys created")


def sync_usage_keys(stage: str, project_dir: Path = REPO) -> int:
    """The keys of the usage plan a packaged stack made, created where missing; how many were created."""
    apigateway = _apigateway()
    name = gateway_limits.usage_plan_name(stage)
    plan = gateway_limits.usage_plan(apigateway, name)
    if plan is None:
        raise DeployError(f"no usage plan {name}: deploy the stage's stack first")
    table = stage_settings(load_config(project_dir), stage)["environment_variables"]["API_KEYS_TABLE"]
    return gateway_limits.sync_usage_keys(apigateway, plan["id"], table)


def _apigateway() -> Any:
    """API Gateway's control plane allows a few calls a second: its throttling is waited out, not failed on."""
    return boto3.client("apigateway", config=Config(retries={"mode": "adaptive", "max_attempts": 20}))


def function_names(stage: str) -> dict[str, str]:
    """Each Lambda function's name, as `chalice deploy` names it: `<app>-<stage>[-<function>]`."""
    app_name = load_config()["app_name"]
    return {
        name: f"{app_name}-{stage}" if name == API_HANDLER else f"{app_name}-{stage}-{name}"
        for name in Program().lambdas()
    }


def merge_template(stage: str) -> dict[str, Any]:
    """What `package` merges into Chalice's template: gateway responses and limits, and the deployed names."""
    settings = stage_settings(load_config(), stage)
    resources: dict[str, Any] = {
        "RestAPI": {
            "Properties": {
                "DefinitionBody": {
                    "x-amazon-apigateway-gateway-responses": gateway_responses(),
                },
                "MethodSettings": [gateway_limits.method_settings(settings)],
            }
        },
        "AccountsUsagePlan": gateway_limits.usage_plan_resource(stage, settings),
    }
    for name, function_name in function_names(stage).items():
        # Chalice's log group for the API handler refers to `${ApiHandler}`, which
        # is not the function's logical id (`APIHandler`): named here instead.
        logical_id = "APIHandler" if name == API_HANDLER else to_cfn_resource_name(name)
        resources[logical_id] = {"Properties": {"FunctionName": function_name}}
        resources[to_cfn_resource_name(f"{name}-log-group")] = {
            "Properties": {"LogGroupName": f"/aws/lambda/{function_name}"}
        }
    return {"Resources": resources}


def package(stage: str, out: Path, project_dir: Path = REPO) -> Path:
    """`chalice package` for `stage` into `out`; the path of the SAM template (its zip is `deployment.zip`)."""
    with tempfile.TemporaryDirectory() as scratch:
        merge = Path(scratch) / "merge.json"
        merge.write_text(json.dumps(merge_template(stage), indent=2))
        arguments = ["package", "--stage", stage, "--merge-template", str(merge), str(out)]
        _chalice_on_prepared_package(project_dir, stage)(arguments)
    return out / "sam.json"


def _chalice_on_prepared_package(project_dir: Path, stage: str) -> RunChalice:
    """Chalice, run once the stage's package is prepared where Chalice takes it from."""

    def run(arguments: list[str]) -> None:
        lambda_package.prepare(project_dir, stage)
        chalice = [sys.executable, "-m", "tools.chalice_cli", "--project-dir", str(project_dir)]
        subprocess.run([*chalice, *arguments], check=True, cwd=REPO)

    return run


def _check_filled_in(settings: dict[str, Any]) -> None:
    domain = settings.get("api_gateway_custom_domain")
    if domain and PLACEHOLDER_CERTIFICATE in domain.get("certificate_arn", ""):
        raise DeployError(
            f"fill in the ACM certificate for {domain['domain_name']} in .chalice/config.json "
            "(api_gateway_custom_domain.certificate_arn; see docs/deploying.md)"
        )


if __name__ == "__main__":
    sys.exit(main())
