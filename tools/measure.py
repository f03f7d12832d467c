"""Measure what each Lambda function costs: cold start, warm requests, peak memory.

    python -m tools.measure [--requests 300]

Each function runs in a fresh Python process, as a Lambda execution environment
would: first the module import (Lambda's init phase), then one invocation with
a Lambda event shaped as API Gateway sends it, then warm invocations. AWS is
moto's server in another process on the loopback interface, so the CPU time
reported is the function's own. Lambda gives a function CPU in proportion to
its memory (one vCPU at 1,769 MB), so CPU seconds here, divided by a memory
size's share of a vCPU, estimate its time on Lambda.
"""

import argparse
import base64
import json
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ONE_VCPU_MB = 1769
EVENT = {
    "type": "identify",
    "userId": "5678",
    "messageId": "022bb90c-7f28-4c1a-9d3b-2b1e2f3c4d5e",
    "traits": {"email": "peter@example.com", "name": "Peter Gibbons", "plan": "premium", "logins": 5},
    "context": {"ip": "203.0.113.7", "library": {"name": "analytics.js", "version": "4.1.0"}},
    "timestamp": "2026-11-27T09:59:58.120Z",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", choices=["authorizer", "view"], help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.key, args.requests)))
        return 0
    return _run(args.requests)


def _run(requests: int) -> int:
    # Imported here, not at the top: a child process must import nothing the app would not.
    import boto3  # noqa: PLC0415
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    from chalicelib.keys import KeyStore  # noqa: PLC0415
    from tools.provision import provision, stage_environment  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # moto runs in this process; the measured functions run in their own.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        # moto accepts any credentials; these keep real ones out of the measurement.
        aws = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "measure",
            "AWS_SECRET_ACCESS_KEY": "measure",
        }
        os.environ.update(aws)
        environment = {**stage_environment("local"), **aws}
        provision(environment, endpoint_url=endpoint)
        key = KeyStore(boto3.client("dynamodb"), environment["API_KEYS_TABLE"]).create("1234")
        for function in ("authorizer", "view"):
            command = [sys.executable, "-m", "tools.measure", "--child", function, "--key", key]
            command += ["--requests", str(requests)]
            output = subprocess.run(
                command, cwd=REPO, env={**os.environ, **environment}, capture_output=True, check=True
            )
            _report(function, json.loads(output.stdout.decode().splitlines()[-1]))
    finally:
        server.stop()
    return 0


def _measure(function: str, key: str, requests: int) -> dict[str, Any]:
    """One cold start and `requests` warm invocations of `function`, in this process."""
    wall, cpu = time.perf_counter(), time.process_time()
    import app  # noqa: PLC0415 (the import is what is measured)

    init = (time.perf_counter() - wall, time.process_time() - cpu)
    handler, event = _invocation(app, function, key)
    timings = [_timed(handler, event) for _ in range(requests + 1)]
    first, warm = timings[0], timings[1:]
    warm_wall = sorted(seconds for seconds, _ in warm)
    return {
        "init_wall_s": init[0],
        "init_cpu_s": init[1],
        "first_wall_s": first[0],
        "first_cpu_s": first[1],
        "warm_wall_p50_ms": statistics.median(warm_wall) * 1000,
        "warm_wall_p99_ms": warm_wall[int(len(warm_wall) * 0.99) - 1] * 1000,
        "warm_cpu_mean_ms": statistics.fmean(cpu for _, cpu in warm) * 1000,
        "max_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident memory since it started the app.

    Linux's ru_maxrss survives exec, so it would count the parent's memory
    before the fork; VmHWM belongs to this program's own address space.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _invocation(app: Any, function: str, key: str) -> tuple[Any, dict[str, Any]]:
    authorization = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    if function == "authorizer":
        method_arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/api/POST/v1/segment"
        return app.api_key_authorizer, {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn}
    event = {
        "resource": "/v1/segment",
        "path": "/v1/segment",
        "httpMethod": "POST",
        "requestContext": {
            "httpMethod": "POST",
            "resourcePath": "/v1/segment",
            "path": "/api/v1/segment",
            "requestId": "measure",
            "authorizer": {"account_id": "1234", "principalId": "1234"},
        },
        "headers": {"content-type": "application/json", "authorization": authorization},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": json.dumps(EVENT),
        "isBase64Encoded": False,
    }
    return app.app, event


class _Context:
    aws_request_id = "measure"
    function_name = "measure"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _timed(handler: Any, event: dict[str, Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as devnull:
        stdout, sys.stdout = sys.stdout, devnull
        try:
            result = handler(event, _Context())
        finally:
            sys.stdout = stdout
    if isinstance(result, dict) and result.get("statusCode", 200) != 200:
        raise RuntimeError(f"the handler answered {result}")
    return time.perf_counter() - wall, time.process_time() - cpu


def _report(function: str, measured: dict[str, Any]) -> None:
    ms = {name: value * 1000 for name, value in measured.items() if name.endswith("_s")}
    print(f"\n{function}: peak RSS {measured['max_rss_mb']:.0f} MB")
    print(f"  init (import app): {ms['init_wall_s']:5.0f} ms wall, {ms['init_cpu_s']:5.0f} ms CPU")
    print(f"  first invocation:  {ms['first_wall_s']:5.0f} ms wall, {ms['first_cpu_s']:5.0f} ms CPU")
    print(
        f"  warm invocations:  p50 {measured['warm_wall_p50_ms']:.1f} ms, p99 {measured['warm_wall_p99_ms']:.1f} ms"
        f" wall, {measured['warm_cpu_mean_ms']:.1f} ms CPU mean"
    )
    cold_cpu = measured["init_cpu_s"] + measured["first_cpu_s"]
    for memory in (128, 256, 512, 1024):
        share = memory / ONE_VCPU_MB
        print(
            f"  at {memory:4d} MB ({share:.2f} vCPU): cold start ~{cold_cpu / share:.2f} s,"
            f" warm ~{measured['warm_cpu_mean_ms'] / share:.0f} ms of CPU"
        )


if __name__ == "__main__":
    sys.exit(main())
