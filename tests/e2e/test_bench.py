"""`make bench`'s machinery, at a tiny size so that it cannot rot: no figure is judged here."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
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


def test_the_benchmark_measures_every_row_and_writes_its_figures(tmp_path: Path) -> None:
    # GIVEN the benchmark at its smallest size
    figures_file = tmp_path / "bench.json"
    # WHEN it runs
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(figures_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN it prints a row per measure and one per Lambda function, and writes every figure, each a positive number
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 13 + 2 + len(FUNCTIONS), result.stdout
    figures = json.loads(figures_file.read_text())
    for key in KEYS:
        assert isinstance(figures[key], float), key
    assert all(figures[key] > 0 for key in KEYS if key != "rss_growth_mib")
    assert set(figures["sizing"]) == set(FUNCTIONS)
    assert all(figures["sizing"][function]["cold_start_s"]["512"] > 0 for function in FUNCTIONS)
