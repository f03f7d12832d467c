"""Benchmark the service against the AWS SDK's floor and print one table, then its AWS bill per event.

    python -m bench [--json FILE] [--smoke] [--only bill|capped]

Rows: the warm path (µs per event through the view's Lambda handler vs. the
same SNS publishes alone), the warm authorizer, cold starts of the view and of
the authorizer (a fresh interpreter each, vs. boto3 alone making the same first
call) from the package as deployed and from the repository, memory over 10,000
events, and /v1/batch vs. single events. A second table sizes the Lambda
functions from the same figures. Then the same functions under a real CPU
cap (`bench.capped`): warm batches and single events with the dedup table,
and cold starts, each in a process held to a memory size's share of a CPU
(as root only: elsewhere it says why, and goes on without them). Then the
bill (`bench.bill`): dollars per million events, line by line, for single
events and batches, with and without the dedup table, from the AWS calls the
service makes against moto. The event mix is samples/events.jsonl, replayed.
`--smoke` runs everything at a tiny size: it checks the machinery, its
figures mean nothing. `--only bill` measures the bill alone, `--only capped`
the capped measures alone.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import apart, cold, deployed
from bench.environment import REPO, child_environment, event_mix
from bench.pricing import ONE_VCPU_MB
from bench.stub import running_stub


@dataclass(frozen=True)
class Sizes:
    warm_rounds: int
    batch_rounds: int
    cold_runs: int
    memory_events: int


FULL = Sizes(warm_rounds=150, batch_rounds=30, cold_runs=21, memory_events=10_000)
SMOKE = Sizes(warm_rounds=2, batch_rounds=2, cold_runs=1, memory_events=24)
WARM_TARGET = 1.2
COLD_TARGET = 1.25
AUTHORIZER_COLD_TARGET = 1.15
PEAK_RSS_TARGET_MIB = 100
RSS_GROWTH_TARGET_MIB = 1.0
# What one request may add to the process, whatever its batch makes of its shared fields.
REQUEST_GROWTH_TARGET_MIB = 64
BATCH_TARGET = 5.0
MEMORY_SIZES_MB = (128, 256, 512, 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file, as one JSON object")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the machinery")
    parser.add_argument(
        "--only",
        choices=["bill", "capped"],
        help="measure only the bill (what each event costs on AWS) or the capped measures (needs root)",
    )
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.only is None:
        figures = measure(SMOKE if args.smoke else FULL)
        print(table(figures))
        print()
        print(sizing_table(figures["sizing"]))
        print()
    if args.only in (None, "capped"):
        capped_figures, capped_tables = apart.measured("bench.capped", args.smoke, timeout=900)
        figures.update(capped_figures)
        print(capped_tables, end="\n\n" if args.only is None else "\n")
    if args.only in (None, "bill"):
        bill_figures, bill_tables = apart.measured("bench.bill", args.smoke, timeout=600)
        figures.update(bill_figures)
        print(bill_tables)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def measure(sizes: Sizes) -> dict[str, Any]:
    """Every figure of the table, measured with the stub running in its own process."""
    machine = _machine()
    with (
        running_stub() as endpoint,
        tempfile.TemporaryDirectory(prefix="bench-bytecode-") as bytecode_cache,
        deployed.unpacked() as package,
    ):
        environment = child_environment(endpoint, bytecode_cache)
        warm = _in_process(environment, "warm", "--rounds", str(sizes.warm_rounds))
        warm_authorizer = _in_process(environment, "authorizer", "--rounds", str(sizes.warm_rounds))
        view, view_floor = cold.view(event_mix()[0]), cold.view_floor(warm["published"][0], warm["client_config"])
        authorizer_floor = cold.authorizer_floor(warm_authorizer["get_item"], warm_authorizer["client_config"])
        scripts = [
            *(script.deployed(package.var_task) for script in (view, view_floor, cold.authorizer(), authorizer_floor)),
            view,
            view_floor,
            cold.authorizer(),
            authorizer_floor,
            cold.view_floor(warm["published"][0], warm["client_config"], also_import="marshmallow"),
        ]
        cold_starts = cold.run(scripts, sizes.cold_runs, environment)
        memory = _in_process(environment, "memory", "--events", str(sizes.memory_events))
        largest_batch = _in_process(environment, "largest-batch")
        batch = _in_process(environment, "batch", "--rounds", str(sizes.batch_rounds))
    machine["load_average_after"] = os.getloadavg()
    cold_ms = {name: _median(runs, "ms") for name, runs in cold_starts.items()}
    return {
        "warm_ratio": warm["ratio"],
        "deployed_cold_ratio": cold.median_ratio(cold_starts, "view, deployed", "view floor, deployed"),
        "deployed_authorizer_cold_ratio": cold.median_ratio(
            cold_starts, "authorizer, deployed", "authorizer floor, deployed"
        ),
        "package_mib": package.mib,
        "cold_ratio": cold.median_ratio(cold_starts, "view", "view floor"),
        "authorizer_cold_ratio": cold.median_ratio(cold_starts, "authorizer", "authorizer floor"),
        "cold_marshmallow_ratio": cold.median_ratio(cold_starts, "view floor + marshmallow", "view floor"),
        "peak_rss_mib": memory["peak_rss_mib"],
        "rss_growth_mib": memory["rss_growth_mib"],
        "largest_batch_rss_growth_mib": largest_batch["rss_growth_mib"],
        "batch_speedup": batch["speedup"],
        "warm_us_per_event": warm["ours_us"],
        "warm_floor_us_per_event": warm["floor_us"],
        "warm_cpu_us_per_event": warm["ours_cpu_us"],
        "warm_floor_cpu_us_per_event": warm["floor_cpu_us"],
        "warm_cpu_ratio": warm["cpu_ratio"],
        "warm_authorizer_us": warm_authorizer["ours_us"],
        "warm_authorizer_floor_us": warm_authorizer["floor_us"],
        "warm_authorizer_ratio": warm_authorizer["ratio"],
        "deployed_cold_ms": cold_ms["view, deployed"],
        "deployed_cold_floor_ms": cold_ms["view floor, deployed"],
        "deployed_authorizer_cold_ms": cold_ms["authorizer, deployed"],
        "deployed_authorizer_cold_floor_ms": cold_ms["authorizer floor, deployed"],
        "cold_ms": cold_ms["view"],
        "cold_floor_ms": cold_ms["view floor"],
        "cold_floor_with_marshmallow_ms": cold_ms["view floor + marshmallow"],
        "authorizer_cold_ms": cold_ms["authorizer"],
        "authorizer_cold_floor_ms": cold_ms["authorizer floor"],
        "rss_mib": memory["rss_mib"],
        "batch_events_per_s": batch["batch_events_per_s"],
        "single_events_per_s": batch["single_events_per_s"],
        "sdk_batch_speedup": batch["sdk_speedup"],
        "publish_batch_calls_per_batch": batch["publish_batch_calls_per_batch"],
        "sizing": {
            "view": _sizing(cold_starts["view, deployed"], warm["ours_cpu_us"], memory["peak_rss_mib"]),
            "authorizer": _sizing(cold_starts["authorizer, deployed"], warm_authorizer["ours_cpu_us"], None),
        },
        "sizes": sizes.__dict__,
        "machine": machine,
    }


def _sizing(runs: list[dict[str, float]], warm_cpu_us: float, peak_rss_mib: float | None) -> dict[str, Any]:
    """What a function's CPU time makes of its cold start and warm run at each memory size."""
    init_cpu_ms = _median(runs, "init_cpu_ms")
    first_cpu_ms = statistics.median(run["cpu_ms"] - run["init_cpu_ms"] for run in runs)
    share = {memory: memory / ONE_VCPU_MB for memory in MEMORY_SIZES_MB}
    return {
        "init_cpu_ms": init_cpu_ms,
        "first_invocation_cpu_ms": first_cpu_ms,
        "warm_cpu_ms": warm_cpu_us / 1000,
        # After its cold start, or (the view) after 10,000 events.
        "peak_rss_mib": _median(runs, "peak_rss_mib") if peak_rss_mib is None else peak_rss_mib,
        "cold_start_s": {memory: (init_cpu_ms + first_cpu_ms) / 1000 / part for memory, part in share.items()},
        "warm_ms": {memory: warm_cpu_us / 1000 / part for memory, part in share.items()},
    }


def _median(runs: list[dict[str, float]], figure: str) -> float:
    return statistics.median(run[figure] for run in runs)


def table(figures: dict[str, Any]) -> str:
    """The figures as one Markdown table, each row with its target and whether it is met."""
    machine = figures["machine"]
    rows = [
        _row(
            "warm path: µs per event (wall)",
            figures["warm_us_per_event"],
            figures["warm_floor_us_per_event"],
            figures["warm_ratio"],
            target=f"≤ {WARM_TARGET}",
            met=figures["warm_ratio"] <= WARM_TARGET,
        ),
        _row(
            "warm path: µs of CPU per event",
            figures["warm_cpu_us_per_event"],
            figures["warm_floor_cpu_us_per_event"],
            figures["warm_cpu_ratio"],
            target="",
            met=None,
        ),
        _row(
            "warm authorizer: µs per decision (wall)",
            figures["warm_authorizer_us"],
            figures["warm_authorizer_floor_us"],
            figures["warm_authorizer_ratio"],
            target="",
            met=None,
        ),
        _row(
            "cold start, view, as deployed: import + first event, ms",
            figures["deployed_cold_ms"],
            figures["deployed_cold_floor_ms"],
            figures["deployed_cold_ratio"],
            target=f"≤ {COLD_TARGET}",
            met=figures["deployed_cold_ratio"] <= COLD_TARGET,
        ),
        _row(
            "cold start, authorizer, as deployed: import + first decision, ms",
            figures["deployed_authorizer_cold_ms"],
            figures["deployed_authorizer_cold_floor_ms"],
            figures["deployed_authorizer_cold_ratio"],
            target=f"≤ {AUTHORIZER_COLD_TARGET}",
            met=figures["deployed_authorizer_cold_ratio"] <= AUTHORIZER_COLD_TARGET,
        ),
        _row(
            "… the view from the repository, bytecode cached, ms",
            figures["cold_ms"],
            figures["cold_floor_ms"],
            figures["cold_ratio"],
            target="",
            met=None,
        ),
        _row(
            "… the authorizer from the repository, bytecode cached, ms",
            figures["authorizer_cold_ms"],
            figures["authorizer_cold_floor_ms"],
            figures["authorizer_cold_ratio"],
            target="",
            met=None,
        ),
        _row(
            "… the view's floor plus `import marshmallow`, ms",
            figures["cold_floor_with_marshmallow_ms"],
            figures["cold_floor_ms"],
            figures["cold_marshmallow_ratio"],
            target="",
            met=None,
        ),
        _row(
            f"peak RSS after {figures['sizes']['memory_events']:,} events, MiB",
            figures["peak_rss_mib"],
            None,
            None,
            target=f"≤ {PEAK_RSS_TARGET_MIB}",
            met=figures["peak_rss_mib"] <= PEAK_RSS_TARGET_MIB,
        ),
        _row(
            "RSS growth over the second half of those events, MiB",
            figures["rss_growth_mib"],
            None,
            None,
            target=f"≤ {RSS_GROWTH_TARGET_MIB}",
            met=figures["rss_growth_mib"] <= RSS_GROWTH_TARGET_MIB,
        ),
        _row(
            "RSS growth from the largest batch /v1/batch accepts (500 KB, 2,500 events, ~8 MiB of messages), MiB",
            figures["largest_batch_rss_growth_mib"],
            None,
            None,
            target=f"≤ {REQUEST_GROWTH_TARGET_MIB}",
            met=figures["largest_batch_rss_growth_mib"] <= REQUEST_GROWTH_TARGET_MIB,
        ),
        _row(
            "/v1/batch of 100 vs. single events: events/s",
            figures["batch_events_per_s"],
            figures["single_events_per_s"],
            figures["batch_speedup"],
            target=f"≥ {BATCH_TARGET}",
            met=figures["batch_speedup"] >= BATCH_TARGET,
        ),
        _row(
            "… the SDK alone: one PublishBatch of 10 vs. 10 Publish",
            None,
            None,
            figures["sdk_batch_speedup"],
            target="",
            met=None,
        ),
    ]
    head = [
        "| measure | ours | floor | ratio | target | met |",
        "|---|--:|--:|--:|--:|---|",
    ]
    load = " → ".join(f"{load[0]:.1f}" for load in (machine["load_average_before"], machine["load_average_after"]))
    note = (
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}, load average {load}; "
        "medians; each ratio is the median of interleaved pairs. "
        f"The deployment package: {figures['package_mib']:.1f} MiB."
    )
    return "\n".join([*head, *rows, "", note])


def sizing_table(sizing: dict[str, dict[str, Any]]) -> str:
    """Each function's CPU time, and what it makes of a cold start at each memory size (CPU is what memory buys)."""
    sizes = " | ".join(f"{memory} MB" for memory in MEMORY_SIZES_MB)
    lines = [
        f"| Lambda function, as deployed | init, ms CPU | first invocation, ms CPU | warm, ms CPU | peak RSS, MiB "
        f"| cold start, s, at {sizes} |",
        "|---|--:|--:|--:|--:|" + "--:|" * len(MEMORY_SIZES_MB),
    ]
    for name, figures in sizing.items():
        cells = [
            name,
            f"{figures['init_cpu_ms']:.0f}",
            f"{figures['first_invocation_cpu_ms']:.0f}",
            f"{figures['warm_cpu_ms']:.2f}",
            f"{figures['peak_rss_mib']:.0f}",
            *(f"{seconds:.2f}" for seconds in figures["cold_start_s"].values()),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _row(
    name: str, ours: float | None, floor: float | None, ratio: float | None, *, target: str, met: bool | None
) -> str:
    cells = [
        name,
        "" if ours is None else _number(ours),
        "" if floor is None else _number(floor),
        "" if ratio is None else f"{ratio:.2f}",
        target,
        {True: "yes", False: "**no**", None: ""}[met],
    ]
    return "| " + " | ".join(cells) + " |"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _in_process(environment: dict[str, str], measure: str, *options: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.inprocess", measure, *options]
    result = subprocess.run(
        command, check=False, cwd=REPO, env=environment, capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        raise RuntimeError(f"{measure} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return figures


def _machine() -> dict[str, Any]:
    model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average_before": os.getloadavg(),
    }


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
