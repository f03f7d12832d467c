"""Cold starts: a fresh interpreter per run, ours and the SDK's floor alternately.

A Lambda cold start runs the handler module's import (the init phase) and then
the first invocation; both are timed here, from the script's first line to the
handler's answer, and the init phase apart too. The interpreter's own start-up
is the same on both sides and is left out. The floors do what the service's
first request cannot avoid: import boto3, create the client the way the service
does, make the one call. Ours runs either from the repository with its bytecode
cached, or from the package as deployed (`bench.deployed`).
"""

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench import deployed
from bench.environment import API_KEY, REPO, gateway_event
from tools.lambda_events import LambdaContext, authorizer_event
from tools.lambda_package import RECORD_COMPILED

_TIMED = """
{prelude}
import time
_started, _cpu = time.perf_counter(), time.process_time()
{init}
_init_ms, _init_cpu_ms = (time.perf_counter() - _started) * 1000, (time.process_time() - _cpu) * 1000
{work}
_figures = {{"ms": (time.perf_counter() - _started) * 1000, "cpu_ms": (time.process_time() - _cpu) * 1000}}
_figures.update(init_ms=_init_ms, init_cpu_ms=_init_cpu_ms, compiled=len(compiled))
for _line in open("/proc/self/status"):
    if _line.startswith("VmHWM:"):
        _figures["peak_rss_mib"] = int(_line.split()[1]) / 1024
import json
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
    """One side of a comparison: Python code run with `python -c`, from the repository or from a package."""

    name: str
    init: str  # Lambda's init phase: the handler module's import
    work: str  # the first invocation
    var_task: Path | None = None  # the unpacked package it runs from, alone, as on Lambda

    @property
    def code(self) -> str:
        return _TIMED.format(prelude=RECORD_COMPILED, init=self.init, work=self.work)

    def deployed(self, var_task: Path) -> "Script":
        """The same work, run from the package unpacked in `var_task`."""
        return replace(self, name=f"{self.name}, deployed", var_task=var_task)


def view(body: bytes) -> Script:
    """The view's Lambda function: import app, then its first request (one event through /v1/segment)."""
    event = json.dumps(gateway_event("/v1/segment", body))
    work = f"""
{_CONTEXT}
_answer = app.app(__import__("json").loads({event!r}), Context())
assert _answer["statusCode"] == 200, _answer
"""
    return Script("view", "import app", work)


def view_floor(publish_params: dict[str, Any], client_config: dict[str, Any], also_import: str = "") -> Script:
    """boto3 alone: an SNS client with the view's own client configuration, and the publish the view made.

    `also_import` names a module to import as well, to measure what it alone adds to the floor.
    """
    work = f"""
from botocore.config import Config
_client = boto3.client("sns", config=Config(**__import__("json").loads({json.dumps(client_config)!r})))
_client.publish(**__import__("json").loads({json.dumps(publish_params)!r}))
"""
    init = f"import {also_import}\nimport boto3" if also_import else "import boto3"
    return Script(f"view floor + {also_import}" if also_import else "view floor", init, work)


def authorizer() -> Script:
    """The authorizer's Lambda function (built from the same app.py): import app, then one decision."""
    event = json.dumps(authorizer_event(API_KEY))
    work = f"""
{_CONTEXT}
_policy = app.api_key_authorizer(__import__("json").loads({event!r}), Context())
assert _policy["policyDocument"]["Statement"][0]["Effect"] == "Allow", _policy
"""
    return Script("authorizer", "import app", work)


def authorizer_floor(get_item: dict[str, Any], client_config: dict[str, Any]) -> Script:
    """boto3 alone: a DynamoDB client with the authorizer's own client configuration, and the GetItem it made."""
    work = f"""
from botocore.config import Config
_client = boto3.client("dynamodb", config=Config(**__import__("json").loads({json.dumps(client_config)!r})))
_item = _client.get_item(**__import__("json").loads({json.dumps(get_item)!r}))["Item"]
"""
    return Script("authorizer floor", "import boto3", work)


def run(scripts: list[Script], runs: int, environment: dict[str, str]) -> dict[str, list[dict[str, float]]]:
    """Each script `runs` times, in an order that rotates each round, after one run each that is not counted.

    The uncounted run writes the bytecode caches of the scripts run from the
    repository (see `child_environment`); those run from a package write none.
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
    if script.var_task is None:
        command, cwd, env = [sys.executable, "-c", script.code], REPO, environment
    else:
        # Without site-packages (-S): nothing but the package and the standard library, as on Lambda.
        command = [sys.executable, "-S", "-c", script.code]
        cwd, env = script.var_task, deployed.environment(environment, script.var_task)
    result = subprocess.run(command, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    if script.var_task is not None and figures["compiled"]:
        unused = f"{script.name} compiled {figures['compiled']:.0f} modules"
        raise RuntimeError(f"{unused}: the package's bytecode was not used, the figures are not a deployed one's")
    return figures
