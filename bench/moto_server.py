"""moto in a process of its own, served as AWS serves: the AWS the bill's requests meet, apart from the CPU it measures.

    python -m bench.moto_server PORT      # serves on 127.0.0.1:PORT until killed

moto (the emulator the tests use) answers every call the service makes, with
real conditions and transactions, so the calls counted are the calls the code
really makes. In its own process, its CPU time is not the measured process's
and it does not compete for that process's GIL. Three changes from
`python -m moto.server`, so that what the client does, and so the CPU time
measured, is what it does against AWS:

- connections are kept alive, as AWS's endpoints and the service's client
  keep them: moto's server (werkzeug's) closes every one, which made each
  call open a new connection and doubled the client's CPU time per call;
- moto as the tests and `make run` patch it (`tools.emulator`);
- moto's backends are not safe for concurrent calls, and the service makes
  up to 16 at a time: here they are answered one at a time, as they would
  be anyway under moto's GIL.
"""

import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.error import URLError
from wsgiref import simple_server

from tools.emulator import patch_moto

STARTUP_SECONDS = 30.0
Application = Callable[[dict[str, Any], Any], Any]


@contextmanager
def running_moto_server() -> Iterator[str]:
    """moto's server in a child process for the time of the block: its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.moto_server", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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


class _Answer(simple_server.ServerHandler):
    """An HTTP/1.1 answer, which a client may follow with its next request on the same connection."""

    http_version = "1.1"


class _KeepAlive(simple_server.WSGIRequestHandler):
    """Each connection's requests one after the other, until the client closes it."""

    protocol_version = "HTTP/1.1"
    # An answer's head and body are written apart: without this, the body waits for the client's delayed ACK.
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self.raw_requestline = self.rfile.readline(65537)
            # An empty line is a closed connection; parse_request answers a malformed one itself.
            if not self.raw_requestline or not self.parse_request():
                return
            answer = _Answer(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)  # type: ignore[arg-type]
            answer.request_handler = self  # type: ignore[attr-defined]  # wsgiref logs the request through it
            answer.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Every call would print a line: nobody reads them."""


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


def _one_at_a_time(application: Application) -> Application:
    answering = threading.Lock()

    def answer_alone(environ: dict[str, Any], start_response: Any) -> Any:
        with answering:
            return application(environ, start_response)

    return answer_alone


def _serve(port: int) -> None:
    """moto's application on loopback, with the changes above."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto writes its own port into the URLs it hands out (an SQS queue's, for one).
    os.environ["MOTO_PORT"] = str(port)
    patch_moto()
    with _Server(("127.0.0.1", port), _KeepAlive) as server:
        server.set_app(_one_at_a_time(DomainDispatcherApplication(create_backend_app)))
        server.serve_forever()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
