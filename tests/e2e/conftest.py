"""The service as an engineer runs it: `make run`'s runner in a subprocess, on free ports.

The runner starts moto's server and `chalice local --stage local` as its child;
tests talk to both over real HTTP.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from chalicelib.keys import KeyStore
from tests.faultproxy import FaultProxy
from tools.provision import provision, stage_environment, tail_queue_name
from tools.run_local import chalice_local, emulator, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
DEMO_KEY = "e2e-demo-key"
READY = "is running locally"
RUNNER = [sys.executable, "-m", "tools.run_local"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalRun:
    """A running `python -m tools.run_local` and what it printed."""

    process: subprocess.Popen[str]
    url: str
    aws_endpoint: str
    output: "queue.Queue[str]"
    banner: str = ""

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/segment"

    def keys(self) -> KeyStore:
        dynamodb = boto3.client("dynamodb", endpoint_url=self.aws_endpoint)
        return KeyStore(dynamodb, stage_environment("local")["API_KEYS_TABLE"])

    def published(self, event_type: str) -> list[str]:
        return published_message_ids(self.aws_endpoint, event_type)

    def wait_for_banner(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            try:
                line = self.output.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError("the runner exited:\n" + "".join(lines)) from None
                continue
            lines.append(line)
            if READY in line:
                time.sleep(0.3)  # the rest of the banner
                while not self.output.empty():
                    lines.append(self.output.get())
                self.banner = "".join(lines)
                return
        raise TimeoutError("the runner did not print its banner:\n" + "".join(lines))

    def stop(self, stop_signal: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
        return self.process.wait(timeout=20)


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


def start_local_run(port: int | None = None, aws_port: int | None = None) -> LocalRun:
    port, aws_port = port or free_port(), aws_port or free_port()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*RUNNER, "--port", str(port), "--aws-port", str(aws_port), "--demo-key", DEMO_KEY, "--no-reload"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_forward_lines, args=(process, output), daemon=True).start()
    run = LocalRun(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}", output)
    try:
        run.wait_for_banner()
    except BaseException:
        run.process.kill()
        raise
    return run


def _forward_lines(process: subprocess.Popen[str], output: "queue.Queue[str]") -> None:
    assert process.stdout is not None
    for line in process.stdout:
        output.put(line)


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


@pytest.fixture(scope="module")
def faulty_service_for_module() -> Iterator[FaultyService]:
    """`chalice local` whose AWS calls pass through a fault-injecting proxy in front of moto."""
    with emulator(free_port()) as moto:
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
