"""Cold starts from the package as deployed, each in a fresh interpreter held to a memory size's share of a CPU.

The scripts are `bench.cold`'s, run as it runs them from the unpacked
package (`bench.deployed`), but each process is placed in a capped cgroup
(`bench.cpu_cap`) before its first line, and AWS is moto's server with the
dedup table: the view's first request claims its event, publishes it and
settles the claim, as in production, and the authorizer reads the key table.
Every view run sends an event with a messageId of its own, a first delivery.
Each round runs both functions uncapped and at every memory size, in an
order that rotates, so that what else the machine does falls on all alike.
"""

import json
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from bench import cold, deployed
from bench.cold import Script
from bench.cpu_cap import Cap, share
from bench.environment import event_mix

FUNCTIONS = ("view", "authorizer")
# A cold start at 128 MB takes seconds; one that takes this long is hung.
RUN_TIMEOUT_SECONDS = 120


def measure(var_task: Path, caps: list[Cap], runs: int, environment: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each function's median cold start uncapped and at each cap's memory size.

    Next to each capped one, what the uncapped runs' CPU time divided by the
    share predicts, as the sizing table has it. One run of each, uncapped and
    not counted, comes first: the package's files are then in the page cache,
    as a warm host's would be.
    """
    for function in FUNCTIONS:
        _run(_script(function, var_task), None, environment)
    timings: dict[tuple[str, int | None], list[dict[str, float]]] = {}
    # One after the other in different cgroups: a run that overdrew its cgroup's quota slows no other.
    order = [(function, cap) for function in FUNCTIONS for cap in [None, *caps]]
    for _ in range(runs):
        for function, cap in order:
            memory_mb = None if cap is None else cap.memory_mb
            timings.setdefault((function, memory_mb), []).append(_run(_script(function, var_task), cap, environment))
        order = order[1:] + order[:1]
    figures: dict[str, dict[str, Any]] = {}
    for function in FUNCTIONS:
        uncapped = _medians(timings[function, None])
        capped = {cap.memory_mb: _medians(timings[function, cap.memory_mb]) for cap in caps}
        for memory_mb, medians in capped.items():
            medians["predicted_ms"] = uncapped["cpu_ms"] / share(memory_mb)
        figures[function] = {"uncapped": uncapped, "capped": capped}
    return figures


def _script(function: str, var_task: Path) -> Script:
    script = cold.view(_fresh_event()) if function == "view" else cold.authorizer()
    return script.deployed(var_task)


def _fresh_event() -> bytes:
    """The mix's first event with a messageId of its own: the dedup table has never seen it."""
    event = json.loads(event_mix()[0])
    event["messageId"] = str(uuid.uuid4())
    return json.dumps(event).encode()


def _run(script: Script, cap: Cap | None, environment: dict[str, str]) -> dict[str, float]:
    """One cold start, as `bench.cold` runs one from the package, placed in `cap` if given."""
    assert script.var_task is not None
    result = subprocess.run(
        [sys.executable, "-S", "-c", script.code],
        check=False,
        cwd=script.var_task,
        env=deployed.environment(environment, script.var_task),
        preexec_fn=None if cap is None else cap.enter,  # this process runs no threads, which a fork could leave locked
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} failed:\n{result.stderr[-2000:]}")
    figures: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    if figures["compiled"]:
        unused = f"{script.name} compiled {figures['compiled']:.0f} modules"
        raise RuntimeError(f"{unused}: the package's bytecode was not used, the figures are not a deployed one's")
    return figures


def _medians(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The median of each figure: wall and CPU time, each in all and for the import alone, and the peak RSS."""
    figures: dict[str, Any] = {
        figure: statistics.median(run[figure] for run in runs)
        for figure in ("ms", "init_ms", "cpu_ms", "init_cpu_ms", "peak_rss_mib")
    }
    figures["runs"] = len(runs)
    return figures
