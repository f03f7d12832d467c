"""Cold starts: a fresh interpreter per run, ours and the SDK's floor alternately.

A Lambda cold start runs the handler module's import (the init phase) and then
the first invocation; both are timed here, from the script's first line to the
handler's answer. The interpreter's own start-up is the same on both sides and
is left out. The floors do what the service's first request cannot avoid:
import boto3, create the client the way the service does, make the one call.
"""

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench.environment import API_KEY, REPO, LambdaContext, gateway_event
from chalicelib.keys import hash_key
from tools.lambda_events import authorizer_event

_TIMED = """
import time
_started, _cpu = time.perf_counter(), time.process_time()
{work}
_figures = {{"ms": (time.perf_counter() - _started) * 1000, "cpu_ms": (time.process_time() - _cpu) * 1000}}
import json, sys
print("\\n" + json.dumps(_figures))
"""
_CONTEXT = f"""
class Context:
    aws_request_id = {LambdaContext.aws_request_id!r}
    function_name = {LambdaContext.function_name!r}
    memory_limit_in_mb = {LambdaContext.memory_limit_in_mb!r}
    def get_remaining_time_in_millis(self): return 6000
"""


@dataclass(frozen=True)
class Script:
    """One side of a comparison: Python code run with `python -c`."""

    name: str
    code: str


def view(body: bytes) -> Script:
    """The view's Lambda function: import app, then its first request (one event through /v1/segment)."""
    event = json.dumps(gateway_event("/v1/segment", body))
    work = f"""
import app
{_CONTEXT}
_answer = app.app(__import__("json").loads({event!r}), Context())
assert _answer["statusCode"] == 200, _answer
"""
    return Script("view", _TIMED.format(work=work))


def view_floor(publish_params: dict[str, Any], client_config: dict[str, Any], also_import: str = "") -> Script:
    """boto3 alone: an SNS client with the view's own client configuration, and the publish the view made.

    `also_import` names a module to import as well, to measure what it alone adds to the floor.
    """
    work = f"""
{f"import {also_import}" if also_import else ""}
import boto3
from botocore.config import Config
_client = boto3.client("sns", config=Config(**__import__("json").loads({json.dumps(client_config)!r})))
_client.publish(**__import__("json").loads({json.dumps(publish_params)!r}))
"""
    return Script(f"view floor + {also_import}" if also_import else "view floor", _TIMED.format(work=work))


def authorizer() -> Script:
    """The authorizer's Lambda function (built from the same app.py): import app, then one decision."""
    event = json.dumps(authorizer_event(API_KEY))
    work = f"""
import app
{_CONTEXT}
_policy = app.api_key_authorizer(__import__("json").loads({event!r}), Context())
assert _policy["policyDocument"]["Statement"][0]["Effect"] == "Allow", _policy
"""
    return Script("authorizer", _TIMED.format(work=work))


def authorizer_floor(table: str, api_key: str) -> Script:
    """boto3 alone: a DynamoDB client as `keys.dynamodb_client` creates it, and the GetItem `KeyStore.find` makes."""
    get_item = {
        "TableName": table,
        "Key": {"key_hash": {"S": hash_key(api_key)}},
        "ProjectionExpression": "key_hash, account_id, #s",
        "ExpressionAttributeNames": {"#s": "status"},
    }
    work = f"""
import boto3
_client = boto3.client("dynamodb")
_item = _client.get_item(**__import__("json").loads({json.dumps(get_item)!r}))["Item"]
"""
    return Script("authorizer floor", _TIMED.format(work=work))


def run(scripts: list[Script], runs: int, environment: dict[str, str]) -> dict[str, list[dict[str, float]]]:
    """Each script `runs` times, in an order that rotates each round, after one run each that is not counted.

    The uncounted run writes the bytecode caches (see `child_environment`).
    """
    timings: dict[str, list[dict[str, float]]] = {script.name: [] for script in scripts}
    for script in scripts:
        _run_once(script, environment)
    order = list(scripts)
    for _ in range(runs):
        for script in order:
            timings[script.name].append(_run_once(script, environment))
        order = order[1:] + order[:1]
    return timings


def median_ratio(timings: dict[str, list[dict[str, float]]], name: str, over: str) -> float:
    """The median of each round's own ratio."""
    return statistics.median(ours["ms"] / floor["ms"] for ours, floor in zip(timings[name], timings[over], strict=True))


def _run_once(script: Script, environment: dict[str, str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", script.code],
        check=False,
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return figures
