"""Stopping a command started in a process group of its own, with everything it started.

`make run` starts `chalice local` in a group of its own, and tests start `make
run` in another: asked nicely, each stops what it started. When one does not,
or waiting for it is interrupted, what is left of its whole tree is killed, so
that no server outlives its run and every port is released.
"""

import contextlib
import os
import signal
import subprocess
from pathlib import Path

KILLED_SECONDS = 10


def stop(process: subprocess.Popen[str] | subprocess.Popen[bytes], first_signal: int, grace: float) -> int:
    """`first_signal` to `process`'s group, SIGKILL to what remains of its tree after `grace` seconds; its exit code.

    The tree is read before anything is signalled: once a parent has exited, its
    children are no longer found under it.
    """
    # Never this process's own group, whatever was started by what.
    groups = {process.pid, *process_groups_under(process.pid)} - {os.getpgrp()}
    try:
        if process.poll() is None:
            os.killpg(process.pid, first_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
    finally:
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        # Only a process stuck in the kernel (a dead disk or mount) outlives SIGKILL: an error, not a hang.
        process.wait(timeout=KILLED_SECONDS)
    return process.returncode


def process_groups_under(pid: int) -> set[int]:
    """The process groups of `pid`'s descendants (Linux's /proc; none found elsewhere)."""
    groups = set()
    for child in _children(pid):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(child))
        groups |= process_groups_under(child)
    return groups


def _children(pid: int) -> list[int]:
    children = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            children += [int(child) for child in listing.read_text().split()]
    return children
