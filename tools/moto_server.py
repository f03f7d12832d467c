"""moto's server as this project serves it: the AWS of `make run`, of the end-to-end tests and of the bench.

    python -m tools.moto_server PORT      # serves on 127.0.0.1:PORT until killed

moto (`tools.emulator`) answers every call the service makes. Its own server
(werkzeug's, in `moto.server` and `ThreadedMotoServer`) is not how AWS serves
them, and at volume the difference is what a client meets. Three changes:

- connections are kept alive, as AWS's endpoints and the service's clients
  keep them: werkzeug's server closes every one, which made each call open a
  new connection and doubled the client's CPU time per call;
- moto as the tests patch it (`tools.emulator.patch_moto`);
- moto's backends are not safe for concurrent calls, and the service makes
  up to 16 at a time: here they are answered one at a time, as they would be
  anyway under the interpreter's lock, rather than interleaved (werkzeug
  answers each connection in a thread of its own, all at once).
"""

import socketserver
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref import simple_server

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from tools.emulator import patch_moto

Application = Callable[[dict[str, Any], Any], Any]


@contextmanager
def serving(port: int) -> Iterator[str]:
    """moto's server on loopback `port`, in threads of this process, for as long as the block runs: its URL."""
    with _server(port) as server:
        thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.shutdown()
            thread.join()


@contextmanager
def _server(port: int) -> Iterator["_Server"]:
    patch_moto()
    with _Server(("127.0.0.1", port), _KeepAlive) as server:
        server.set_app(_one_at_a_time(DomainDispatcherApplication(create_backend_app)))
        yield server


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
    # Connections waiting to be accepted: the service opens up to 16 at once, and socketserver's 5 dropped the rest,
    # whose retry a second later came after the service's 0.25 s connect timeout.
    request_queue_size = 128


def _one_at_a_time(application: Application) -> Application:
    answering = threading.Lock()

    def answer_alone(environ: dict[str, Any], start_response: Any) -> Any:
        with answering:
            return application(environ, start_response)

    return answer_alone


def main(port: int) -> None:
    """Serve until killed, in a process of its own."""
    with _server(port) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
