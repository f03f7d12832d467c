"""The service as an engineer runs it: `chalice local` in a subprocess, over moto's server."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.keys import KeyStore
from tools.provision import Provisioned, provision, stage_environment

REPO = Path(__file__).resolve().parents[2]
STAGE = "local"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server mode on a free loopback port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass(frozen=True)
class LocalService:
    url: str
    keys: KeyStore
    provisioned: Provisioned


@pytest.fixture(scope="session")
def local_service(moto_endpoint: str) -> Iterator[LocalService]:
    """`chalice local --stage local` pointed at moto through AWS_ENDPOINT_URL."""
    environment = stage_environment(STAGE)
    provisioned = provision(environment, endpoint_url=moto_endpoint)
    keys = KeyStore(boto3.client("dynamodb", endpoint_url=moto_endpoint), environment["API_KEYS_TABLE"])
    port = free_port()
    chalice = Path(sys.executable).parent / "chalice"
    process = subprocess.Popen(
        [str(chalice), "local", "--stage", STAGE, "--host", "127.0.0.1", "--port", str(port), "--no-autoreload"],
        cwd=REPO,
        env={**os.environ, "AWS_ENDPOINT_URL": moto_endpoint},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield LocalService(f"http://127.0.0.1:{port}", keys, provisioned)
    finally:
        process.terminate()
        process.wait(timeout=10)
