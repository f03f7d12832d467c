"""A bench mode measured in a process of its own, as its `python -m` command measures it.

The bill and the capped measures each take their process over (its
environment, moto's server, the app imported as Lambda imports it), so `make
bench` runs each apart and takes its figures and its tables back.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.environment import REPO


def measured(module: str, smoke: bool, timeout: float) -> tuple[dict[str, Any], str]:
    """`python -m <module> --json FILE [--smoke]` in a fresh process: its figures, and the tables it printed."""
    with tempfile.TemporaryDirectory(prefix="bench-apart-") as directory:
        figures_file = Path(directory) / "figures.json"
        command = [sys.executable, "-m", module, "--json", str(figures_file), *(["--smoke"] if smoke else [])]
        result = subprocess.run(command, check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"python -m {module} failed:\n{result.stderr[-3000:]}")
        figures: dict[str, Any] = json.loads(figures_file.read_text())
    return figures, result.stdout.rstrip("\n")
