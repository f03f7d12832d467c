"""A Lambda memory size's share of one CPU, given to processes here by a cgroup v1 `cpu` controller.

Lambda gives a function one vCPU at 1,769 MB and CPU in proportion below
it (how, it does not document). Dividing a CPU time measured without a cap
by that share predicts a duration, but not what a cap does to a request that
waits on threads and sockets while it runs: here a process in a cgroup whose
`cpu.cfs_quota_us` is that share of its `cpu.cfs_period_us` runs at most that
long in each period, its threads together, and its children with it. Creating one takes root and the v1
controller mounted at /sys/fs/cgroup/cpu; `unavailable` says why not.
"""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.pricing import ONE_VCPU_MB

CPU_CONTROLLER = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000
# How long a cgroup's last processes may take to leave it once they have been waited for.
REMOVAL_SECONDS = 5.0


def share(memory_mb: int) -> float:
    """The part of one vCPU Lambda gives a function of `memory_mb`: 512 MB gets 0.29."""
    return min(1.0, memory_mb / ONE_VCPU_MB)


def unavailable(controller: Path = CPU_CONTROLLER) -> str | None:
    """Why no capped cgroup can be made here, or None if one can: tried by making one and removing it."""
    if not (controller / "cpu.cfs_quota_us").is_file():
        return f"no cgroup v1 cpu controller at {controller}"
    probe = controller / f"emma-segment-bench-{os.getpid()}-probe"
    try:
        probe.mkdir()
        probe.rmdir()
    except PermissionError:
        return f"no permission to create a cgroup in {controller}: it takes root"
    except OSError as error:
        return f"cannot create a cgroup in {controller}: {error.strerror}"
    return None


def throttled_seconds(cgroup: Path) -> float:
    """How long the cgroup's quota has held its processes back since it was made: each CPU's run queue's, summed."""
    stat = dict(line.split() for line in (cgroup / "cpu.stat").read_text().splitlines())
    return int(stat["throttled_time"]) / 1e9


@dataclass(frozen=True)
class Cap:
    """One cgroup holding a memory size's share of a CPU: the processes placed in it, and their children."""

    memory_mb: int
    path: Path

    @property
    def quota_us(self) -> int:
        return round(share(self.memory_mb) * PERIOD_US)

    def enter(self) -> None:
        """Place the calling process in the cgroup: a child's `preexec_fn`, so it runs capped from its first line."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))


@contextmanager
def capped(memory_mb: int, controller: Path = CPU_CONTROLLER) -> Iterator[Cap]:
    """A cgroup capped at `memory_mb`'s share of a CPU for the time of the block, removed after it.

    Whatever was placed in it must have ended by the block's end.
    """
    cap = Cap(memory_mb, controller / f"emma-segment-bench-{os.getpid()}-{memory_mb}mb")
    cap.path.mkdir()
    try:
        (cap.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (cap.path / "cpu.cfs_quota_us").write_text(str(cap.quota_us))
        yield cap
    finally:
        _remove(cap.path)


def _remove(path: Path) -> None:
    """rmdir the cgroup: refused while a process is still in it, which an ended child leaves soon after."""
    give_up = time.monotonic() + REMOVAL_SECONDS
    while True:
        try:
            path.rmdir()
            return
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)
