"""moto in a process of its own, served as `make run` serves it (`tools.moto_server`): the AWS the bill's requests meet.

moto answers every call the service makes, with real conditions and
transactions, so the calls counted are the calls the code really makes. In its
own process, its CPU time is not the measured process's and it does not
compete for that process's GIL; and served with keep-alive, one call at a
time, what the client does, and so the CPU time measured, is what it does
against AWS.
"""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.error import URLError

import boto3

from tools.provision import provision, stage_environment

STARTUP_SECONDS = 30.0


@contextmanager
def running_moto_server() -> Iterator[str]:
    """moto's server in a child process for the time of the block: its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.moto_server", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def reset(endpoint: str) -> None:
    """Forget every resource and record: what comes next starts from an empty account."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 (the emulator's URL)
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (the loopback emulator's own URL)
        pass


def local_stage_without_tails(endpoint: str) -> dict[str, str]:
    """An empty account with the `local` stage's resources, as `make run` provisions them; the stage's environment.

    Less the tail queues' subscriptions: nothing reads them in the bench, moto's
    fan-out to SQS would answer a batch of 500's publishes too slowly for the
    service's 1 s read timeout, and SNS bills a publish the same whoever
    subscribes (deliveries to SQS are free).
    """
    reset(endpoint)
    stage = stage_environment("local")
    provision(stage, endpoint_url=endpoint)
    sns = boto3.client("sns", endpoint_url=endpoint)
    for subscription in sns.list_subscriptions()["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    return stage


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_answering(endpoint: str, process: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):  # noqa: S310 (loopback)
                return
        except (URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"moto's server did not answer on {endpoint} within {STARTUP_SECONDS:.0f} s")
