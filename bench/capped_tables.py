"""The capped measures as `make bench` prints them: warm requests and cold starts, a column per memory size."""

from typing import Any

_PATHS = {
    "batch500": "/v1/batch of 500",
    "batch100": "/v1/batch of 100",
    "single": "one event per request",
}
_FUNCTIONS = {"view": "view: import + first event", "authorizer": "authorizer: import + first decision"}


def tables(figures: dict[str, Any]) -> str:
    """Both tables and the note that says how they were measured."""
    return "\n\n".join([warm_table(figures), cold_table(figures), note(figures)])


def warm_table(figures: dict[str, Any]) -> str:
    """Each path's median wall time, answer, outcomes and CPU per memory size, and the target at 512 MB."""
    capped = figures["capped"]
    warm, target_mb = capped["warm"], capped["target_memory_mb"]
    memories = list(warm)
    rounds = capped["sizes"]["rounds"]
    head = [
        f"| warm, capped CPU, dedup on, median of {rounds} | "
        + " | ".join(_memory(memory, capped["shares"]) for memory in memories)
        + " | target | met |",
        "|---|" + "--:|" * len(memories) + "---|---|",
    ]
    rows = []
    for path, label in _PATHS.items():
        times = [warm[memory][path]["seconds"] for memory in memories]
        target, met = "", ""
        if path == "batch500":
            target = f"200 within {capped['budget_seconds']:.0f} s at {target_mb} MB"
            met = "yes" if figures["capped_batch500_met"] else "**no**"
        unit = "ms" if path == "single" else "s"
        rows += [
            _row(f"{label}: {unit} from handler start to answer", [*(_duration(t, unit) for t in times), target, met]),
            _row("… status; published / late", [*(_outcome(warm[memory][path]) for memory in memories), "", ""]),
            _row(
                f"… CPU {unit}; CPU ÷ share, {unit}",
                [*(_cpu(warm[memory][path], capped["shares"][memory], unit) for memory in memories), "", ""],
            ),
        ]
    return "\n".join(head + rows)


def cold_table(figures: dict[str, Any]) -> str:
    """Each function's cold start uncapped and under each cap, next to its uncapped CPU time divided by the share."""
    capped = figures["capped"]
    cold = capped["cold"]
    memories = list(cold["view"]["capped"])
    runs = capped["sizes"]["cold_runs"]
    head = [
        f"| cold start as deployed, dedup on, median of {runs}, s | no cap | "
        + " | ".join(_memory(memory, capped["shares"]) for memory in memories)
        + " |",
        "|---|--:|" + "--:|" * len(memories),
    ]
    rows = []
    for function, label in _FUNCTIONS.items():
        uncapped, by_memory = cold[function]["uncapped"], [cold[function]["capped"][memory] for memory in memories]
        rows += [
            _row(label, [_seconds(uncapped["ms"]), *(_seconds(run["ms"]) for run in by_memory)]),
            _row(
                "… its CPU time uncapped ÷ share predicts",
                [_seconds(uncapped["cpu_ms"]), *(_seconds(run["predicted_ms"]) for run in by_memory)],
            ),
            _row(
                "… of which the import (Lambda's init)",
                [_seconds(uncapped["init_ms"]), *(_seconds(run["init_ms"]) for run in by_memory)],
            ),
        ]
    return "\n".join(head + rows)


def note(figures: dict[str, Any]) -> str:
    """How the tables were measured, with the machine's load."""
    capped = figures["capped"]
    load = " → ".join(f"{capped['load_average'][when][0]:.1f}" for when in ("before", "after"))
    quotas = ", ".join(
        f"{memory} MB {share * capped['period_us']:,.0f} µs" for memory, share in capped["shares"].items()
    )
    return (
        f"Each memory size's processes in a cgroup whose CPU quota is its share of one CPU per "
        f"{capped['period_us']:,} µs period ({quotas}); no cap: the same runs without one, whose CPU time "
        "divided by each share is the prediction. moto's server uncapped, in its own process. "
        f"Load average {load}."
    )


def _memory(memory: Any, shares: dict[Any, float]) -> str:
    return f"{int(memory):,} MB: {shares[memory]:.1%}"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}"


def _duration(seconds: float, unit: str) -> str:
    return f"{seconds * 1000:.0f}" if unit == "ms" else f"{seconds:.2f}"


def _outcome(path: dict[str, Any]) -> str:
    statuses = path["statuses"]
    status = str(path["status"]) if len(statuses) == 1 else ", ".join(f"{s} ×{n}" for s, n in statuses.items())  # noqa: RUF001
    return f"{status}; {path['published']:.0f} / {path['late']:.0f}"


def _cpu(path: dict[str, Any], share: float, unit: str) -> str:
    """The CPU time the process used, and the wall time it takes at the share when nothing else is waited for."""
    return f"{_duration(path['cpu_seconds'], unit)}; {_duration(path['cpu_seconds'] / share, unit)}"


def _row(name: str, cells: list[str]) -> str:
    return "| " + " | ".join([name, *cells]) + " |"
