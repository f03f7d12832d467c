"""The view and the authorizer held to each Lambda memory size's share of a CPU, against moto, dedup on.

    python -m bench.capped [--smoke] [--json FILE]

Lambda gives a 512 MB function 512/1,769 of a vCPU. Dividing CPU time by
that share predicts its durations; here a cgroup (`bench.cpu_cap`) holds the
measured processes to it, so that what the cap does to threads, sockets and
the request's deadline shows in wall time:

- warm requests (`bench.capped_requests`): a `/v1/batch` of 500 events, one
  of 100 and single events, first deliveries, through the view's handler in
  a warm process at 256, 512, 1,024 and 1,769 MB (a whole vCPU). The target:
  the batch of 500 acknowledged (200) within the request's deadline at 512 MB;
- cold starts (`bench.capped_cold`): the view and the authorizer from the
  package as deployed at 128 MB to 1,769 MB, next to what their CPU time
  without a cap divided by the share predicts.

AWS is moto's server in a process of its own (`bench.moto_server`), not
capped: AWS is not in the function's cgroup. It is emptied and provisioned
as `make run` provisions the `local` stage before each memory size's warm
process and before the cold starts, with `DEDUP_TABLE` set as in production.
It takes root and cgroup v1's `cpu` controller; without them the mode says
why, measures nothing and exits 0.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from bench import capped_cold, capped_tables, cpu_cap, deployed
from bench.capped_requests import PATHS
from bench.environment import ACCOUNT_ID, API_KEY, REPO, aws_environment
from bench.moto_server import local_stage_without_tails, running_moto_server
from chalicelib.deadline import BUDGET_SECONDS
from chalicelib.keys import KeyStore

WARM_MEMORY_MB = (256, 512, 1024, 1769)
COLD_MEMORY_MB = (128, 256, 512, 1024, 1769)
TARGET_MEMORY_MB = 512
# A memory size's warm process: its import, its warm-ups and its measured rounds.
WARM_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Sizes:
    warm_ups: int  # unmeasured rounds of warm requests
    rounds: int  # measured rounds of warm requests
    cold_runs: int  # cold starts of each function at each memory size


FULL = Sizes(warm_ups=3, rounds=7, cold_runs=7)
SMOKE = Sizes(warm_ups=1, rounds=1, cold_runs=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as one JSON object")
    parser.add_argument("--smoke", action="store_true", help="one request and one cold start each: the machinery")
    args = parser.parse_args()
    reason = cpu_cap.unavailable()
    if reason is None:
        figures = measure(SMOKE if args.smoke else FULL)
        print(capped_tables.tables(figures))
    else:
        figures = {"capped_not_measured": reason}
        print(f"Capped CPU: not measured: {reason}.")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def measure(sizes: Sizes) -> dict[str, Any]:
    """Warm requests and cold starts under each cap, against moto's server.

    It takes this process over: its environment becomes the `local` stage's,
    pointed at moto, for the processes it starts and for provisioning.
    """
    load_before = os.getloadavg()
    with (
        running_moto_server() as endpoint,
        deployed.unpacked() as package,
        tempfile.TemporaryDirectory(prefix="bench-bytecode-") as bytecode_cache,
        ExitStack() as caps_held,
    ):
        os.environ.clear()
        os.environ.update(aws_environment(endpoint))
        # Not beside the sources: bytecode under chalicelib/ would end up in the next package Chalice builds.
        os.environ.update(PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=bytecode_cache)
        caps = {
            memory: caps_held.enter_context(cpu_cap.capped(memory))
            for memory in sorted({*WARM_MEMORY_MB, *COLD_MEMORY_MB})
        }
        warm = {}
        for memory in WARM_MEMORY_MB:
            _provisioned(endpoint)
            warm[memory] = _warm(caps[memory], sizes)
        _provisioned(endpoint)
        cold = capped_cold.measure(
            package.var_task, [caps[memory] for memory in COLD_MEMORY_MB], sizes.cold_runs, dict(os.environ)
        )
    return figures(warm, cold, sizes, load_before)


def _warm(cap: cpu_cap.Cap, sizes: Sizes) -> dict[str, list[dict[str, Any]]]:
    """Each path's measured requests in a warm process held to `cap`."""
    command = [
        sys.executable,
        "-m",
        "bench.capped_requests",
        f"--cgroup={cap.path}",
        f"--warm-ups={sizes.warm_ups}",
        f"--rounds={sizes.rounds}",
    ]
    result = subprocess.run(
        command,
        check=False,
        cwd=REPO,
        env=dict(os.environ),
        preexec_fn=cap.enter,  # this process runs no threads, which a fork could leave locked
        capture_output=True,
        text=True,
        timeout=WARM_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the warm requests at {cap.memory_mb} MB failed:\n{result.stderr[-3000:]}")
    measured: dict[str, list[dict[str, Any]]] = json.loads(result.stdout.splitlines()[-1])
    return measured


def _provisioned(endpoint: str) -> None:
    """The `local` stage's resources in an empty account, as for the bill, and the bench's key."""
    stage = local_stage_without_tails(endpoint)
    KeyStore(boto3.client("dynamodb", endpoint_url=endpoint), stage["API_KEYS_TABLE"]).create(ACCOUNT_ID, key=API_KEY)


def figures(
    warm: dict[int, dict[str, list[dict[str, Any]]]],
    cold: dict[str, dict[str, Any]],
    sizes: Sizes,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """The capped figures: each path's medians per memory size, the cold starts, and the target at the top level."""
    paths = {memory: {path: _medians(requests[path]) for path in PATHS} for memory, requests in warm.items()}
    target = paths[TARGET_MEMORY_MB]["batch500"]
    return {
        "capped_batch500_seconds": {memory: path["batch500"]["seconds"] for memory, path in paths.items()},
        "capped_batch500_status": {memory: path["batch500"]["status"] for memory, path in paths.items()},
        "capped_batch500_met": target["all_in_time"],
        "capped_cold_ms": {
            function: {memory: run["ms"] for memory, run in runs["capped"].items()} for function, runs in cold.items()
        },
        "capped": {
            "warm": paths,
            "cold": cold,
            "budget_seconds": BUDGET_SECONDS,
            "target_memory_mb": TARGET_MEMORY_MB,
            "shares": {memory: cpu_cap.share(memory) for memory in sorted({*WARM_MEMORY_MB, *COLD_MEMORY_MB})},
            "period_us": cpu_cap.PERIOD_US,
            "sizes": sizes.__dict__,
            "load_average": {"before": load_before, "after": os.getloadavg()},
        },
    }


def _medians(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """A path's measured requests: the median of each figure, and whether every one was answered 200 in time.

    The status is 200 when every request got it, else the other status most
    of them got: a path that sometimes fails is not shown as succeeding.
    """
    statuses = Counter(request["status"] for request in requests)
    failed = Counter({status: count for status, count in statuses.items() if status != 200})
    return {
        "requests": len(requests),
        "status": failed.most_common(1)[0][0] if failed else 200,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "all_in_time": not failed and max(request["seconds"] for request in requests) <= BUDGET_SECONDS,
        **{
            figure: statistics.median(request[figure] for request in requests)
            for figure in ("seconds", "published", "late", "cpu_seconds", "throttled_seconds")
        },
        "max_seconds": max(request["seconds"] for request in requests),
    }


if __name__ == "__main__":
    sys.exit(main())
