"""`make soak`: `make run`'s local stack taking Segment's traffic at volume, and how its answers hold up.

    python -m bench.soak [--events 100000] [--concurrency 2] [--png FILE]

Starts `make run`'s runner (`tools.run_local`: moto's server in its process,
`chalice local` as its child) on free ports, then sends it `--events` events
the way Segment does (`bench.soak_traffic`): most through the Actions
destination, in batches of 500 and of 100, a share through Segment's Python
library, in batches of 100, everything answered 5xx or 429 retried.
Meanwhile a subscriber reads every tail queue (`bench.soak_tail`). It prints
the events per second, answer times over the run, 503s and retries, the
events lost and the copies, and the runner's memory; it exits 1 unless every
event was published once and the last answers came no slower than 1.5 times
the first. `--png` draws answer time against events stored
(`bench.soak_plot`).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.soak_figures import Memory, SoakResult, report
from bench.soak_tail import Tail
from bench.soak_traffic import SEGMENT_TYPES, ActionsDestination, SegmentLibrary, Tally, Traffic, planned
from tools import process_groups
from tools.run_local import EMULATOR_CREDENTIALS

REPO = Path(__file__).resolve().parent.parent
KEY = "soak-demo-key"
# The last line of the banner `make run` prints once the service answers.
BANNER_END = "Ctrl-C stops everything"
STARTUP_SECONDS = 60.0
PROGRESS_SECONDS = 10.0
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL")


@dataclass(frozen=True)
class LocalStack:
    """A running `make run` runner: its service's URL, its emulator's, and its process."""

    url: str
    aws_endpoint: str
    runner: "subprocess.Popen[bytes]"

    def memory(self) -> Memory:
        runner = _status(self.runner.pid)
        services = [_status(child) for child in _children(self.runner.pid)]
        return Memory(runner["VmRSS"], runner["VmHWM"], sum(service["VmRSS"] for service in services))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A kill or a closed terminal stops the soak as Ctrl-C does: with everything it started.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    result = soak(args.events, args.concurrency)
    print(report(result), flush=True)
    if args.png:
        from bench.soak_plot import draw  # Pillow: installed for `make soak` only

        draw(result, Path(args.png))
        print(f"drawn: {args.png}")
    return 0 if result.holds() else 1


def soak(events: int, concurrency: int) -> SoakResult:
    """`events` events through a fresh local stack, `concurrency` deliveries at a time; what became of them."""
    os.environ.update(EMULATOR_CREDENTIALS)
    for variable in _UNSET:
        os.environ.pop(variable, None)
    with local_stack() as stack:
        at_start = stack.memory()
        tally = Tally()
        tail = Tail(stack.aws_endpoint, SEGMENT_TYPES)
        actions = ActionsDestination({"apiKey": KEY, "endpoint": stack.url})
        library = SegmentLibrary(stack.url, KEY, tally)
        try:
            started = time.monotonic()
            with _progress(tally, tail, events):
                Traffic(actions, library, tally, concurrency).send(planned(events))
            seconds = time.monotonic() - started
            arrived = tail.finish()
        finally:
            library.close()
            actions.close()
            tail.kill()
        at_end = stack.memory()
    sent = (tally.answers, tally.sent, arrived, tally.refused, tally.given_up, tally.reasons, tally.perhaps_published)
    return SoakResult(events, seconds, concurrency, *sent, at_start, at_end)


@contextmanager
def local_stack() -> Iterator[LocalStack]:
    """`make run`'s runner on free ports, without reloading, until the block ends; stopped with all it started."""
    port, aws_port = _free_port(), _free_port()
    with tempfile.TemporaryFile() as output:
        ports = ["--port", str(port), "--aws-port", str(aws_port)]
        runner = subprocess.Popen(
            [sys.executable, "-m", "tools.run_local", *ports, "--demo-key", KEY, "--no-reload"],
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_banner(runner, output)
            yield LocalStack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}", runner)
        finally:
            process_groups.stop(runner, signal.SIGINT, grace=20)


def _wait_for_banner(runner: "subprocess.Popen[bytes]", output: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while BANNER_END.encode() not in (printed := os.pread(output.fileno(), 1 << 20, 0)):
        if runner.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"make run's runner did not start:\n{printed.decode(errors='replace')}")
        time.sleep(0.2)


@contextmanager
def _progress(tally: Tally, tail: Tail, events: int) -> Iterator[None]:
    """A line every PROGRESS_SECONDS while the block runs: how far the soak has got."""
    done = threading.Event()

    def report_progress() -> None:
        started = time.monotonic()
        while not done.wait(PROGRESS_SECONDS):
            with tally.lock:
                answers, acknowledged = len(tally.answers), tally.acknowledged
                unavailable = sum(answer.status >= 500 for answer in tally.answers)
            print(
                f"{time.monotonic() - started:5.0f} s: {acknowledged:,} of {events:,} events acknowledged, "
                f"{tail.read:,} read from the tail queues; {answers:,} answers, {unavailable:,} of them 5xx",
                flush=True,
            )

    reporter = threading.Thread(target=report_progress, name="soak-progress", daemon=True)
    reporter.start()
    try:
        yield
    finally:
        done.set()
        reporter.join()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _status(pid: int) -> dict[str, float]:
    """A process's memory figures from /proc, in MiB."""
    figures = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            figures[name] = int(value.split()[0]) / 1024
    return figures


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(child) for task in tasks for child in (task / "children").read_text().split()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to send (default 100,000)")
    parser.add_argument("--concurrency", type=int, default=2, help="deliveries at a time (default 2)")
    parser.add_argument("--png", help="draw answer time against events stored into this PNG")
    return parser


if __name__ == "__main__":
    sys.exit(main())
