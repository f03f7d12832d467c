"""An HTTP proxy in front of moto's server that injects AWS faults at the socket level.

The service under test is pointed at the proxy through `AWS_ENDPOINT_URL`, so
its real botocore client meets real HTTP errors, resets and silences. Each
rule matches an operation (SNS's `Action=Publish`, DynamoDB's
`X-Amz-Target: ...GetItem`) and fires a number of times; everything else is
forwarded to moto unchanged. A "late" rule forwards the call, so that AWS does
its work, and answers only after `delay` seconds: past the client's read
timeout, it is an answer lost after the work was done.
"""

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_ERROR_DOCUMENT = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type>'
    "<Code>{code}</Code><Message>injected</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
)


@dataclass
class Rule:
    """Fail the next `times` calls of `operation` with `kind`: "status", "reset", "hang" or "late"."""

    operation: str
    times: int
    kind: str = "status"
    status: int = 503
    code: str = "ServiceUnavailable"
    delay: float = 2.0


class FaultProxy:
    """A threaded forwarding proxy; `rules` are consumed as calls match them."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.calls: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_DELETE = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, operation: str, times: int, **fault: Any) -> None:
        with self._lock:
            self.rules.append(Rule(operation, times, **fault))

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        operation = _operation(request, body)
        with self._lock:
            self.calls.append(operation)
            rule = next((rule for rule in self.rules if rule.operation == operation and rule.times > 0), None)
            if rule is not None:
                rule.times -= 1
        if rule is None:
            self._forward(request, body)
        elif rule.kind == "late":
            self._forward(request, body, delay=rule.delay)
        elif rule.kind == "reset":
            # Linger on, zero seconds: closing sends a TCP reset instead of a clean FIN.
            request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            request.close_connection = True
        elif rule.kind == "hang":
            time.sleep(30)
        else:
            _answer(request, rule.status, _ERROR_DOCUMENT.format(code=rule.code).encode(), "text/xml")

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes, delay: float = 0.0) -> None:
        connection = http.client.HTTPConnection(self.upstream.netloc, timeout=30)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "host"}
        connection.request(request.command, request.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        time.sleep(delay)
        # A client that stopped waiting has closed the connection: the answer is lost, as intended.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            _answer(request, response.status, payload, response.getheader("Content-Type", "text/xml"))

    @contextmanager
    def running(self) -> Iterator["FaultProxy"]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


def _operation(request: BaseHTTPRequestHandler, body: bytes) -> str:
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace"))
    return form.get("Action", [""])[0]


def _answer(request: BaseHTTPRequestHandler, status: int, payload: bytes, content_type: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)
