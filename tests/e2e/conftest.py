"""The service as an engineer runs it: `make run`, or its runner, in a subprocess on free ports.

The runner starts moto's server and `chalice local --stage local` as its child;
tests talk to both over real HTTP. Whatever a test starts is stopped, process
group and all, when it ends: passed, failed or out of time (every test has a
time limit, see tests/conftest.py).
"""

import contextlib
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from chalicelib.keys import KeyStore
from tests.faultproxy import FaultProxy
from tools import process_groups
from tools.moto_server import serving
from tools.provision import provision, stage_environment, tail_queue_name
from tools.run_local import chalice_local, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "segment-actions"
DEMO_KEY = "e2e-demo-key"
# The last line of the banner `make run` prints once the service answers.
BANNER_END = "Ctrl-C stops everything"
RUNNER = [sys.executable, "-m", "tools.run_local"]
# The virtualenv these tests run in: `make` targets run with it too.
VENV = Path(sys.prefix)
# How long a stopped run has to stop what it started (chalice local gets 10 s) before all of it is killed.
STOP_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Spawned:
    """A command started as a terminal starts it, in its own process group, and what it prints."""

    process: subprocess.Popen[str]
    output: "queue.Queue[str]"
    reader: threading.Thread

    def read_until(self, done: Callable[[str], bool], timeout: float) -> str:
        """Everything printed so far once `done` holds for it; an error if it never does."""
        deadline = time.monotonic() + timeout
        text = ""
        while not done(text):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.process.args!r} did not print what was expected:\n{text}")
            try:
                text += self.output.get(timeout=0.2)
            except queue.Empty:
                if not self.reader.is_alive() and self.output.empty():
                    raise RuntimeError(f"{self.process.args!r} exited:\n{text}") from None
        return text

    def read_for(self, seconds: float) -> str:
        """Everything printed so far and in the next `seconds`."""
        deadline = time.monotonic() + seconds
        text = ""
        with contextlib.suppress(queue.Empty):
            while True:
                text += self.output.get(timeout=max(0.0, deadline - time.monotonic()))
        return text

    def stop(self, stop_signal: int = signal.SIGINT) -> int:
        """Signal the process group, as Ctrl-C in its terminal would; its exit code once all it started is gone.

        Whatever is left after STOP_SECONDS, or when the wait is cut short by the
        test's time limit, is killed: its group, and the groups its children made.
        """
        return process_groups.stop(self.process, stop_signal, grace=STOP_SECONDS)


def spawn(command: list[str]) -> Spawned:
    """`command` started from the repository, its output read as it comes."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_forward_lines, args=(process, output), daemon=True)
    reader.start()
    return Spawned(process, output, reader)


@dataclass
class LocalRun:
    """A running `make run` (or its runner) and its banner."""

    spawned: Spawned
    url: str
    aws_endpoint: str
    banner: str = ""

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/segment"

    def keys(self) -> KeyStore:
        dynamodb = boto3.client("dynamodb", endpoint_url=self.aws_endpoint)
        return KeyStore(dynamodb, stage_environment("local")["API_KEYS_TABLE"])

    def published(self, event_type: str) -> list[str]:
        return published_message_ids(self.aws_endpoint, event_type)

    def stop(self, stop_signal: int = signal.SIGINT) -> int:
        return self.spawned.stop(stop_signal)


def published_message_ids(aws_endpoint: str, event_type: str) -> list[str]:
    """The messageIds waiting in the local stage's tail queue for `event_type` (read and removed)."""
    sqs = boto3.client("sqs", endpoint_url=aws_endpoint)
    topic = stage_environment("local")[f"TOPIC_ARN_{event_type.upper()}"].rsplit(":", 1)[1]
    queue_url = sqs.get_queue_url(QueueName=tail_queue_name(topic))["QueueUrl"]
    message_ids = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            message_ids.append(json.loads(json.loads(message["Body"])["Message"])["event"]["messageId"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return message_ids


def run_command(command: list[str], timeout: float, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`command` run from the repository to its end, in a process group that is killed whole afterwards.

    Unlike `subprocess.run`, which kills only the process it started, a timeout
    (or the test's time limit) leaves nothing behind: not `make`'s children, nor
    a server the command started.
    """
    with subprocess.Popen(
        command,
        cwd=REPO,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(stdin, timeout=timeout)
        finally:
            process_groups.stop(process, signal.SIGKILL, grace=0)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def start_local_run(port: int | None = None, aws_port: int | None = None, reload: bool = False) -> LocalRun:
    """The runner on its own; without `reload` unless asked, so that no test meets a restarting service."""
    port, aws_port = port or free_port(), aws_port or free_port()
    runner = [*RUNNER, "--port", str(port), "--aws-port", str(aws_port), "--demo-key", DEMO_KEY]
    return _with_banner(spawn(runner if reload else [*runner, "--no-reload"]), port, aws_port)


class Terminals:
    """`make` commands started as an engineer starts them, each as if in a terminal of its own."""

    def __init__(self, stops: contextlib.ExitStack) -> None:
        self._stops = stops

    def make(self, line: str) -> Spawned:
        """`line`, a `make` command as printed for a user, running until the test ends."""
        spawned = spawn(make_command(line))
        self._stops.callback(spawned.stop)
        return spawned

    def make_run(self, port: int, aws_port: int, demo_key: str | None = None) -> LocalRun:
        """`make run PORT=... AWS_PORT=...`, once it has printed its banner."""
        line = f"make run PORT={port} AWS_PORT={aws_port}" + (f" DEMO_KEY={demo_key}" if demo_key else "")
        return _with_banner(self.make(line), port, aws_port)


@pytest.fixture
def terminals() -> Iterator[Terminals]:
    """Whatever a test starts in its terminals is stopped when it ends, the last first, even if one stop fails."""
    with contextlib.ExitStack() as stops:
        yield Terminals(stops)


def make_command(line: str) -> list[str]:
    """A `make` command line, as printed for a user, to run in this test's virtualenv.

    `-o` keeps make from reinstalling the virtualenv when a requirements file is
    newer than its marker: a test run must not pip-install.
    """
    make, *arguments = shlex.split(line)
    assert make == "make", line
    return [make, "-o", f"{VENV}/.installed", f"VENV={VENV}", *arguments]


def _with_banner(spawned: Spawned, port: int, aws_port: int) -> LocalRun:
    """The run `spawned` started, once it has printed its whole banner."""
    run = LocalRun(spawned, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}")
    try:
        run.banner = spawned.read_until(lambda text: BANNER_END in text, timeout=60)
    except BaseException:
        run.stop()
        raise
    return run


def _forward_lines(process: subprocess.Popen[str], output: "queue.Queue[str]") -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.put(line)


@pytest.fixture(scope="session")
def built() -> Path:
    """The destination as `make test` builds it; a missing or stale build fails rather than tests old code."""
    dist = ACTIONS / "dist" / "index.js"
    sources = [path for path in (ACTIONS / "src").rglob("*.ts") if "__tests__" not in path.parts]
    rebuild = "run `make actions` (or `npm ci && npm run build` in segment-actions/)"
    assert shutil.which("node"), "node is not on PATH"
    assert dist.exists(), f"{dist.relative_to(REPO)} is missing: {rebuild}"
    newest = max(path.stat().st_mtime for path in sources)
    assert dist.stat().st_mtime >= newest, f"{dist.relative_to(REPO)} is older than its sources: {rebuild}"
    return dist


@pytest.fixture(scope="session")
def local_run() -> Iterator[LocalRun]:
    """One `make run` for the whole session."""
    run = start_local_run()
    yield run
    run.stop()


@dataclass(frozen=True)
class FaultyService:
    """`chalice local --stage local` whose AWS calls go through a `FaultProxy` in front of moto."""

    url: str
    proxy: FaultProxy
    aws_endpoint: str

    def published(self, event_type: str) -> list[str]:
        return published_message_ids(self.aws_endpoint, event_type)


# The faulty service's claim window: long enough to outlast a request, short enough to wait out in a test.
CLAIM_SECONDS = 5


@pytest.fixture(scope="module")
def faulty_service_for_module() -> Iterator[FaultyService]:
    """`chalice local` whose AWS calls pass through a fault-injecting proxy in front of moto."""
    with serving(free_port()) as moto, pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DEDUP_CLAIM_SECONDS", str(CLAIM_SECONDS))
        # moto keeps its state per process: start from nothing, whatever ran before.
        requests.post(f"{moto}/moto-api/reset", timeout=10)
        environment = stage_environment("local")
        provision(environment, endpoint_url=moto)
        KeyStore(boto3.client("dynamodb", endpoint_url=moto), environment["API_KEYS_TABLE"]).create("1001", DEMO_KEY)
        with FaultProxy(moto).running() as proxy:
            port = free_port()
            with chalice_local(port, proxy.url) as service:
                url = f"http://127.0.0.1:{port}"
                assert wait_until_answering(url, service)
                yield FaultyService(url, proxy, moto)


@pytest.fixture
def faulty_service(faulty_service_for_module: FaultyService) -> Iterator[FaultyService]:
    """The module's faulty service, with no faults left over from the previous test."""
    faulty_service_for_module.proxy.rules.clear()
    yield faulty_service_for_module
    faulty_service_for_module.proxy.rules.clear()
