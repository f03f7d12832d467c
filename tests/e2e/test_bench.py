"""`make bench`'s machinery, at a tiny size so that it cannot rot: no figure is judged here."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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
BILL_PATHS = ("single", "batch100", "batch500", "batch100_again")
BILL_UNITS = ("write_units", "read_units", "sns_requests", "log_bytes")
# Each of the bill's three tables: a head, a separator and a row per path, with and without the dedup table.
BILL_TABLE_LINES = 3 * (2 + 2 * len(BILL_PATHS))


def test_the_benchmark_measures_every_row_and_writes_its_figures(tmp_path: Path) -> None:
    # GIVEN the benchmark at its smallest size
    figures_file = tmp_path / "bench.json"
    # WHEN it runs
    result = _bench("--smoke", "--json", str(figures_file))
    # THEN it prints a row per measure, one per Lambda function and the bill, and writes every figure
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 13 + 2 + len(FUNCTIONS) + BILL_TABLE_LINES, result.stdout
    figures = json.loads(figures_file.read_text())
    for key in KEYS:
        assert isinstance(figures[key], float), key
    assert all(figures[key] > 0 for key in KEYS if key != "rss_growth_mib")
    assert set(figures["sizing"]) == set(FUNCTIONS)
    assert all(figures["sizing"][function]["cold_start_s"]["512"] > 0 for function in FUNCTIONS)
    _assert_bill(figures)


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


def _bench(*options: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench` and the servers it starts (moto's, the stub's), stopped together if it runs out of time."""
    return run_command([sys.executable, "-m", "bench", *options], timeout=240)


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
