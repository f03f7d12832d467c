"""Whether a Lambda function's IAM policy grants exactly what its code calls.

The calls come from reading the code (`tools.aws_calls`); the resources from
the stage's environment variables that the code names: SNS topic ARNs,
DynamoDB table names, the Secrets Manager prefix of webhook secrets, and
secrets referenced as `ssm:/name` or by ARN. Anything else a policy grants is
a finding.
"""

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from tools.aws_calls import LambdaCalls

LOG_ACTIONS = frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"})
# The one table each class that calls DynamoDB works on, by the setting that names it: so that each
# table is granted only the actions made on it. A new class calling DynamoDB must be added here.
TABLE_OF_CALLER = {"chalicelib.keys.KeyStore": "API_KEYS_TABLE", "chalicelib.dedup.DedupTable": "DEDUP_TABLE"}


def policy_problems(
    policy: dict[str, Any], calls: LambdaCalls, environment: dict[str, str], function_name: str
) -> list[str]:
    """Every way `policy` differs from what the function's code needs; empty when it grants exactly that."""
    problems = [f"the code calls something that cannot be told: {call}" for call in sorted(calls.unresolved)]
    granted: dict[str, set[str]] = defaultdict(set)  # service -> actions
    resources: dict[str, set[str]] = defaultdict(set)  # service -> resources
    for statement in _statements(policy):
        problems.extend(_shape_problems(statement))
        actions = _as_list(statement.get("Action"))
        services = {action.partition(":")[0] for action in actions}
        if len(services) != 1:
            problems.append(f"statement {statement.get('Sid')!r} mixes services {sorted(services)}")
            continue
        [service] = services
        granted[service].update(actions)
        resources[service].update(_as_list(statement.get("Resource")))
    region, account = _location(environment)
    expected_actions = _by_service(calls.actions | LOG_ACTIONS)
    expected_resources = {"logs": {f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{function_name}:*"}}
    read = {name: value for name, value in environment.items() if calls.names(name)}
    for service in set(expected_actions) - {"logs"}:
        named = _resources_named(service, read, region, account)
        if named is None:
            problems.append(f"the code calls {service}, whose resources this check cannot tell: teach it {__name__}")
        else:
            expected_resources[service] = named
    problems.extend(_table_problems(policy, calls, read, region, account))
    for service in sorted(set(granted) | set(expected_actions)):
        extra, missing = (
            granted[service] - expected_actions.get(service, set()),
            expected_actions.get(service, set()) - granted[service],
        )
        if extra:
            problems.append(f"grants {sorted(extra)}, which the code never calls")
        if missing:
            problems.append(f"does not grant {sorted(missing)}, which the code calls")
        extra_resources = resources[service] - expected_resources.get(service, set())
        missing_resources = expected_resources.get(service, set()) - resources[service]
        if extra_resources:
            problems.append(f"grants {service} on {sorted(extra_resources)}, which the code does not use")
        if missing_resources:
            problems.append(f"does not grant {service} on {sorted(missing_resources)}, which the code uses")
    return problems


def _table_problems(
    policy: dict[str, Any], calls: LambdaCalls, read: dict[str, str], region: str, account: str
) -> list[str]:
    """DynamoDB, table by table: each is granted exactly the actions the code makes on it."""
    expected: set[tuple[str, str]] = set()
    problems = []
    for action in {action for action in calls.actions if action.startswith("dynamodb:")}:
        for caller in sorted(calls.callers[action]):
            setting = TABLE_OF_CALLER.get(caller)
            if setting is None:
                problems.append(f"{caller} calls {action} on a table this check cannot tell: teach it {__name__}")
            elif setting in read:
                expected.add((action, f"arn:aws:dynamodb:{region}:{account}:table/{read[setting]}"))
    granted = {
        (action, resource)
        for statement in _statements(policy)
        for action in _as_list(statement.get("Action"))
        if action.startswith("dynamodb:")
        for resource in _as_list(statement.get("Resource"))
    }
    problems += [
        f"grants {action} on {resource}, which the code never does" for action, resource in sorted(granted - expected)
    ]
    problems += [
        f"does not grant {action} on {resource}, which the code does" for action, resource in sorted(expected - granted)
    ]
    return problems


def _resources_named(service: str, read: dict[str, str], region: str, account: str) -> set[str] | None:
    """The ARNs of `service` that the settings the code reads name; None for a service not taught here."""
    values = set(read.values())
    if service == "sns":
        return {value for value in values if value.startswith("arn:aws:sns:")}
    if service == "dynamodb":
        tables = {value for name, value in read.items() if name.endswith("_TABLE")}
        return {f"arn:aws:dynamodb:{region}:{account}:table/{table}" for table in tables}
    if service == "secretsmanager":
        prefixes = {value for name, value in read.items() if name.endswith("_SECRETS_PREFIX")}
        under_prefix = {f"arn:aws:secretsmanager:{region}:{account}:secret:{prefix}*" for prefix in prefixes}
        return under_prefix | {value for value in values if value.startswith("arn:aws:secretsmanager:")}
    if service == "ssm":
        names = {value.removeprefix("ssm:").lstrip("/") for value in values if value.startswith("ssm:")}
        parameters = {f"arn:aws:ssm:{region}:{account}:parameter/{name}" for name in names}
        return parameters | {value for value in values if value.startswith("arn:aws:ssm:")}
    return None


def _statements(policy: dict[str, Any]) -> Iterator[dict[str, Any]]:
    statements = policy.get("Statement", [])
    yield from [statements] if isinstance(statements, dict) else statements


def _shape_problems(statement: dict[str, Any]) -> list[str]:
    problems = []
    if statement.get("Effect") != "Allow":
        problems.append(f"statement {statement.get('Sid')!r} is not a plain Allow")
    for key in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
        if key in statement:
            problems.append(f"statement {statement.get('Sid')!r} uses {key}")
    for action in _as_list(statement.get("Action")):
        if "*" in action or "?" in action:
            problems.append(f"action {action!r} is a wildcard")
    for resource in _as_list(statement.get("Resource")):
        if not isinstance(resource, str):
            problems.append(f"resource {resource!r} is not a literal ARN")
    return problems


def _location(environment: dict[str, str]) -> tuple[str, str]:
    """The stage's region and account, from its topic ARNs (which must agree)."""
    locations = {tuple(value.split(":")[3:5]) for value in environment.values() if value.startswith("arn:aws:sns:")}
    assert len(locations) == 1, f"the stage's topics are in several regions or accounts: {locations}"
    [(region, account)] = locations
    return region, account


def _by_service(actions: set[str] | frozenset[str]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for action in actions:
        grouped[action.partition(":")[0]].add(action)
    return grouped


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
