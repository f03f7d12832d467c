"""The package as `make deploy` ships it, unpacked as Lambda unpacks it: where the deployed cold starts run.

Lambda runs the functions from a read-only /var/task holding the package and
nothing else, with the runtime's standard library beside it. Here: the zip
`tools.lambda_package` prepares for Chalice, unpacked with the archive's
times, read-only, run by a fresh interpreter without site-packages (`-S`)
that may write no bytecode. As root the permissions would not stop a write,
so the tree is also checked to be unchanged afterwards.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.environment import REPO
from tools import lambda_package

STAGE = "prod"


@dataclass(frozen=True)
class Package:
    zip: Path
    var_task: Path

    @property
    def mib(self) -> float:
        return self.zip.stat().st_size / 2**20


@contextmanager
def unpacked() -> Iterator[Package]:
    """The stage's package, built as deployed and unpacked read-only for the time of the block."""
    package = lambda_package.prepare(REPO, STAGE)
    with tempfile.TemporaryDirectory(prefix="bench-var-task-") as directory:
        var_task = Path(directory) / "task"
        lambda_package.unpack(package, var_task)
        before = _tree(var_task)
        yield Package(package, var_task)
        if _tree(var_task) != before:
            raise RuntimeError("a cold start wrote into the unpacked package: its figures are not a deployed one's")


def environment(measured: dict[str, str], var_task: Path) -> dict[str, str]:
    """`measured` for a process that runs from `var_task` alone: no cached bytecode elsewhere, none written."""
    deployed = {name: value for name, value in measured.items() if name not in {"PYTHONPATH", "PYTHONPYCACHEPREFIX"}}
    deployed.update(PYTHONPATH=str(var_task), PYTHONDONTWRITEBYTECODE="1")
    return deployed


def _tree(directory: Path) -> set[tuple[str, int]]:
    return {(str(path), path.stat().st_size) for path in directory.rglob("*")}
