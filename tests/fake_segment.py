"""A fake of Segment's OAuth server and Config API, over HTTPS on a loopback port.

It checks what Segment checks: the client's Basic credentials, a single-use
code and the same `redirect_uri` at the token endpoint, the install token on
Config API calls, and that the token reaches only its own destination on the
source chosen at consent. Tests script the customer's answer (consent or
decline) and failures, and read back the destinations it holds.

Its certificate comes from a throwaway CA (trustme); the service trusts it
through `REQUESTS_CA_BUNDLE`, as it would any private CA, so the service talks
HTTPS as in production.
"""

import atexit
import base64
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import trustme

CLIENT_ID = "emma-test-client"
CLIENT_SECRET = "client-secret-canary-5f1d2a"
# The Actions destination's slug (`emma` in Segment's catalog is another company's destination).
SLUG = "actions-emma-email-marketing"
REDIRECT_URI = "https://emma-segment.example/api/v1/segment/enable/callback"
WORKSPACE = "workspaces/acme"
SOURCE = f"{WORKSPACE}/sources/web"
DESTINATION = f"{SOURCE}/destinations/{SLUG}"

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Call:
    """One request the fake received (the Config API's, with their JSON bodies)."""

    method: str
    path: str
    body: Any = None


@dataclass
class _State:
    redirect_uri: str = REDIRECT_URI
    source_name: str = SOURCE
    decline: bool = False
    codes: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_answers: list[tuple[int, str]] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    stall_seconds: float = 0.0
    calls: list[Call] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)


class FakeSegment:
    """id.segmentapis.com and platform.segmentapis.com in one loopback server."""

    def __init__(self, directory: Path) -> None:
        authority = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("127.0.0.1").configure_cert(context)
        self.ca_bundle = directory / "fake-segment-ca.pem"
        authority.cert_pem.write_to_path(str(self.ca_bundle))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._state = _State()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    # What a test scripts.

    def register_redirect_uri(self, redirect_uri: str) -> None:
        """The callback URL registered for Emma's app (the one Segment accepts)."""
        self._state.redirect_uri = redirect_uri

    def choose_source(self, source_name: str) -> None:
        """The source the customer picks on the consent page."""
        self._state.source_name = source_name

    def decline_consent(self) -> None:
        self._state.decline = True

    def answer_token_request(self, status: int, body: str) -> None:
        """The token endpoint's next answer, instead of checking the request."""
        self._state.token_answers.append((status, body))

    def fail_config_api(self, method: str, *statuses: int) -> None:
        """The Config API's next `method` calls answer `statuses`, in order."""
        self._state.failures.setdefault(method, []).extend(statuses)

    def stall(self, seconds: float) -> None:
        """Every answer waits `seconds` first."""
        self._state.stall_seconds = seconds

    def add_destination(self, api_key: str | None, enabled: bool = True, source_name: str = SOURCE) -> None:
        """A destination that exists before the flow runs (made by hand, or by an earlier flow)."""
        name = f"{source_name}/destinations/{SLUG}"
        config = [] if api_key is None else [_setting(f"{name}/config/apiKey", api_key)]
        self._state.destinations[name] = _destination(name, enabled, config)

    # What a test reads.

    def destination(self, source_name: str = SOURCE) -> dict[str, Any] | None:
        return self._state.destinations.get(f"{source_name}/destinations/{SLUG}")

    def api_key(self, source_name: str = SOURCE) -> str | None:
        destination = self.destination(source_name)
        if destination is None:
            return None
        values = [item["value"] for item in destination["config"] if item["name"].endswith("/config/apiKey")]
        return values[0] if values else None

    @property
    def config_api_calls(self) -> list[Call]:
        return list(self._state.calls)

    @property
    def issued_secrets(self) -> list[str]:
        """Every code and install token it handed out, for scanning logs and pages."""
        return list(self._state.issued)

    # Serving.

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(target)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        with self._lock:
            stall = self._state.stall_seconds
        time.sleep(stall)
        with self._lock:
            if (method, url.path) == ("GET", "/oauth2/auth"):
                return self._authorize(query)
            if (method, url.path) == ("POST", "/oauth2/token"):
                return self._token(headers, body)
            if url.path.startswith("/v1beta/"):
                return self._config_api(method, url.path.removeprefix("/v1beta/"), headers, body)
            return _json(404, {"error": "not found"})

    def _authorize(self, query: dict[str, str]) -> Answer:
        expected = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": self._state.redirect_uri,
                    "scope": f"destination/{SLUG}"}  # fmt: skip
        if any(query.get(name) != value for name, value in expected.items()) or not query.get("state"):
            return 400, {"Content-Type": "text/plain"}, b"invalid authorization request"
        if self._state.decline:
            result = {"error": "access_denied", "error_description": "The user denied the request", "state": ""}
        else:
            code = "code-" + secrets.token_urlsafe(16)
            self._state.codes[code] = query["redirect_uri"]
            self._state.issued.append(code)
            result = {"code": code, "scope": query["scope"], "state": ""}
        result["state"] = query["state"]
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode(result)}"}, b""

    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        if self._state.token_answers:
            status, text = self._state.token_answers.pop(0)
            return status, {"Content-Type": "application/json"}, text.encode()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if headers.get("Authorization") != expected:
            return _json(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        form = {name: values[0] for name, values in parse_qs(body.decode()).items()}
        redirect_uri = self._state.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or redirect_uri is None:
            return _json(400, {"error": "invalid_grant", "error_description": "the code is invalid or used"})
        if form.get("redirect_uri") != redirect_uri:
            return _json(400, {"error": "invalid_request", "error_description": "missing a required parameter"})
        token = "install-token-" + secrets.token_urlsafe(16)
        self._state.tokens[token] = self._state.source_name
        self._state.issued.append(token)
        return _json(200, {
            "access_token": token, "token_type": "bearer", "expires_in": 3599, "scope": f"destination/{SLUG}",
            "app_name": "apps/emma", "install_name": "installs/7",
            "workspace_names": [self._state.source_name.rsplit("/sources/", 1)[0]],
            "source_names": [self._state.source_name],
        })  # fmt: skip

    def _config_api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        parsed = json.loads(body) if body else None
        self._state.calls.append(Call(method, path, parsed))
        if self._state.failures.get(method):
            return _json(self._state.failures[method].pop(0), {"error": "scripted failure", "code": 13})
        source_name = self._state.tokens.get(headers.get("Authorization", "").removeprefix("Bearer "))
        if source_name is None:
            return _json(401, {"error": "malformed token", "code": 16})
        name = f"{source_name}/destinations/{SLUG}"
        if method == "POST" and path == f"{source_name}/destinations":
            return self._create(name, parsed)
        if path != name:
            return _json(403, {"error": "the install may not access this resource", "code": 7})
        return self._update(name, parsed) if method == "PATCH" else self._read(name)

    def _read(self, name: str) -> Answer:
        found = self._state.destinations.get(name)
        return _json(200, found) if found else _json(404, {"error": "destination not found", "code": 5})

    def _create(self, name: str, body: Any) -> Answer:
        destination = body["destination"]
        if destination["name"] != name or not destination["config"]:
            return _json(400, {"error": "invalid destination", "code": 3})
        if name in self._state.destinations:
            return _json(409, {"error": "destination already exists", "code": 6})
        settings = [_setting(item["name"], item["value"]) for item in destination["config"]]
        self._state.destinations[name] = _destination(name, destination.get("enabled") is True, settings)
        return _json(200, self._state.destinations[name])

    def _update(self, name: str, body: Any) -> Answer:
        existing = self._state.destinations.get(name)
        if existing is None:
            return _json(404, {"error": "destination not found", "code": 5})
        paths = set(body["update_mask"]["paths"])
        if "destination.enabled" in paths:
            existing["enabled"] = body["destination"]["enabled"] is True
        if "destination.config" in paths:
            changed = {item["name"]: item["value"] for item in body["destination"]["config"]}
            kept = [item for item in existing["config"] if item["name"] not in changed]
            existing["config"] = kept + [_setting(setting, value) for setting, value in changed.items()]
        return _json(200, existing)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients that time out or distrust the certificate hang up, as the tests intend."""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake: FakeSegment = self.server.fake  # type: ignore[attr-defined]
        status, headers, content = fake.answer(method, self.path, dict(self.headers.items()), body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests scan the output for secrets, and this would print paths."""


def _json(status: int, body: Any) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _setting(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "display_name": "API Key", "value": value, "type": "string"}


def _destination(name: str, enabled: bool, config: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "parent": name.rsplit("/destinations/", 1)[0], "display_name": "Emma",
            "enabled": enabled, "connection_mode": "CLOUD", "config": config}  # fmt: skip


@cache
def running_fake_segment() -> FakeSegment:
    """One fake per test process, started on first use and stopped at exit; tests `reset` it."""
    directory = tempfile.TemporaryDirectory(prefix="fake-segment-")
    fake = FakeSegment(Path(directory.name))
    fake.start()
    atexit.register(directory.cleanup)
    atexit.register(fake.stop)
    return fake
