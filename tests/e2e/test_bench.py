"""`make bench`'s machinery, at a tiny size so that it cannot rot: no figure is judged here."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import cpu_cap
from tests.e2e.conftest import run_command

KEYS = (
    "warm_ratio",
    "deployed_cold_ratio",
    "deployed_authorizer_cold_ratio",
    "package_mib",
    "cold_ratio",
    "authorizer_cold_ratio",
    "peak_rss_mib",
    "rss_growth_mib",
    "largest_batch_rss_growth_mib",
    "batch_speedup",
)
FUNCTIONS = ("view", "authorizer")
BILL_PATHS = ("single", "batch100", "batch500", "batch100_again", "single_again")
BILL_UNITS = ("write_units", "read_units", "sns_requests", "log_bytes")
# Each of the bill's three tables: a head, a separator and a row per path, with and without the dedup table.
BILL_TABLE_LINES = 3 * (2 + 2 * len(BILL_PATHS))
# The capped tables: three rows per warm path, three per function's cold start, each with a head and a separator.
CAPPED_TABLE_LINES = 2 + 3 * 3 + 2 + 3 * len(FUNCTIONS)
# Capping a process's CPU takes root and cgroup v1: elsewhere the capped measures say why and are left out.
CAPPED = cpu_cap.unavailable() is None


def test_the_benchmark_measures_every_row_and_writes_its_figures(tmp_path: Path) -> None:
    # GIVEN the benchmark at its smallest size (its capped measures, 40 s of it here, are tried in this run only)
    figures_file = tmp_path / "bench.json"
    # WHEN it runs
    result = _bench("--smoke", "--json", str(figures_file))
    # THEN it prints a row per measure, one per Lambda function, the capped ones and the bill, and writes every
    # figure, and leaves no cgroup behind
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    capped_lines = CAPPED_TABLE_LINES if CAPPED else 0
    assert len(table) == 2 + 13 + 2 + len(FUNCTIONS) + capped_lines + BILL_TABLE_LINES, result.stdout
    figures = json.loads(figures_file.read_text())
    for key in KEYS:
        assert isinstance(figures[key], float), key
    assert all(figures[key] > 0 for key in KEYS if key != "rss_growth_mib")
    assert set(figures["sizing"]) == set(FUNCTIONS)
    assert all(figures["sizing"][function]["cold_start_s"]["512"] > 0 for function in FUNCTIONS)
    _assert_bill(figures)
    _assert_capped(figures)
    assert _left_behind() == []


def test_the_bill_runs_alone(tmp_path: Path) -> None:
    # GIVEN the benchmark asked for the bill only
    figures_file = tmp_path / "bill.json"
    # WHEN it runs
    result = _bench("--smoke", "--only", "bill", "--json", str(figures_file))
    # THEN it prints the bill's tables and writes its figures, and measures nothing else
    assert result.returncode == 0, result.stderr
    assert len([line for line in result.stdout.splitlines() if line.startswith("|")]) == BILL_TABLE_LINES
    figures = json.loads(figures_file.read_text())
    _assert_bill(figures)
    assert not set(KEYS) & set(figures)


def test_without_a_cgroup_v1_cpu_controller_the_cap_says_why(tmp_path: Path) -> None:
    # GIVEN a machine without cgroup v1's cpu controller
    # WHEN asked whether a process can be capped
    reason = cpu_cap.unavailable(tmp_path)
    # THEN it cannot, and the reason says so
    assert reason == f"no cgroup v1 cpu controller at {tmp_path}"


def _bench(*options: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench` and the servers it starts (moto's, the stub's), stopped together if it runs out of time."""
    return run_command([sys.executable, "-m", "bench", *options], timeout=240)


def _left_behind() -> list[str]:
    """The bench's cgroups whose process has ended (those of a bench still running beside this one are its own)."""
    groups = [path.name for path in cpu_cap.CPU_CONTROLLER.glob("emma-segment-bench-*")]
    return [name for name in groups if not Path(f"/proc/{name.split('-')[3]}").exists()]


def _assert_bill(figures: dict[str, Any]) -> None:
    """Every path priced with and without the dedup table, on demand and provisioned; its units per event."""
    for path in BILL_PATHS:
        dedup, no_dedup = figures[f"usd_per_million_{path}"], figures[f"usd_per_million_{path}_no_dedup"]
        assert 0 < figures[f"usd_per_million_{path}_provisioned"] <= dedup, path
        assert no_dedup > 0, path
        units = figures["units_per_event"][path]
        assert set(units) == {"dedup", "no_dedup"}
        assert all(set(units[mode]) == set(BILL_UNITS) for mode in units)
        assert units["no_dedup"]["write_units"] == units["no_dedup"]["read_units"] == 0, path
        assert units["dedup"]["log_bytes"] > 0, path


def _assert_capped(figures: dict[str, Any]) -> None:
    """As root, the batch of 500's figures at every memory size and the cold starts; otherwise the reason."""
    if not CAPPED:
        assert "cgroup" in figures["capped_not_measured"]
        return
    assert set(figures["capped_batch500_seconds"]) == {"256", "512", "1024", "1769"}
    assert all(seconds > 0 for seconds in figures["capped_batch500_seconds"].values())
    assert set(figures["capped_batch500_status"].values()) <= {200, 503}
    assert isinstance(figures["capped_batch500_met"], bool)
    assert set(figures["capped_cold_ms"]) == set(FUNCTIONS)
    assert all(
        set(by_memory) == {"128", "256", "512", "1024", "1769"} for by_memory in figures["capped_cold_ms"].values()
    )
