"""The Segment-like sender against a scripted HTTP server: headers, retries, outcomes."""

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.send import Event, Sender, main, read_events


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out closes its end; that is the point of the test, not an error."""


class ScriptedServer:
    """Answers each POST with the next scripted status (then 200), recording what it received."""

    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay = delay
        self.requests: list[tuple[dict[str, str], bytes]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                script.requests.append((dict(self.headers), body))
                status = script.statuses.pop(0) if script.statuses else 200
                delay, script.delay = script.delay, 0.0
                time.sleep(delay)
                answer = json.dumps({"messageId": "m"} if status == 200 else {"message": f"status {status}"})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/segment"

    def __enter__(self) -> "ScriptedServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pauses() -> list[float]:
    return []


def sender(url: str, pauses: list[float], **options: Any) -> Sender:
    return Sender(url=url, key="k3y", sleep=pauses.append, **options)


EVENT = Event(b'{"type":"identify","userId":"u1"}', "test")


def test_each_event_carries_segments_headers_and_its_exact_bytes(pauses: list[float]) -> None:
    with ScriptedServer([]) as server:
        outcome = sender(server.url, pauses, settings={"groupIds": ["42"]}).send(EVENT)
    [(headers, body)] = server.requests
    assert outcome.accepted
    assert body == EVENT.body
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"k3y:").decode()
    assert headers["User-Agent"] == "Segment.io/1.0"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(base64.b64decode(headers["X-Segment-Settings"])) == {"groupIds": ["42"]}


@pytest.mark.parametrize("status", [503, 500, 501, 429])
def test_429_and_5xx_are_retried_with_growing_jittered_backoff(pauses: list[float], status: int) -> None:
    with ScriptedServer([status, status, status]) as server:
        outcome = sender(server.url, pauses).send(EVENT)
    assert (outcome.status, outcome.attempts) == (200, 4)
    assert len(server.requests) == 4
    caps = [0.2, 0.4, 0.8]
    assert all(0 <= pause <= cap for pause, cap in zip(pauses, caps, strict=True))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415])
def test_other_4xx_answers_are_final(pauses: list[float], status: int) -> None:
    with ScriptedServer([status]) as server:
        outcome = sender(server.url, pauses).send(EVENT)
    assert (outcome.status, outcome.attempts, pauses) == (status, 1, [])


def test_retries_stop_after_the_last_attempt(pauses: list[float]) -> None:
    with ScriptedServer([503] * 10) as server:
        outcome = sender(server.url, pauses, max_attempts=3).send(EVENT)
    assert (outcome.status, outcome.attempts, len(server.requests)) == (503, 3, 3)


def test_a_timeout_is_retried(pauses: list[float]) -> None:
    with ScriptedServer([200], delay=1.0) as server:
        outcome = sender(server.url, pauses, timeout=0.3).send(EVENT)
    assert (outcome.status, outcome.attempts) == (200, 2)


def test_a_refused_connection_is_retried_and_reported_without_a_status(pauses: list[float]) -> None:
    with ScriptedServer([]) as server:
        url = server.url
    outcome = sender(url, pauses, max_attempts=2).send(EVENT)
    assert (outcome.status, outcome.attempts, outcome.answer) == (0, 2, "ConnectionError")


def test_the_port_names_make_runs_service_on_this_machine(tmp_path: Path) -> None:
    (tmp_path / "event.json").write_bytes(EVENT.body)
    with ScriptedServer([]) as server:
        port = server.server.server_address[1]
        status = main(["--port", str(port), "--key", "k3y", str(tmp_path / "event.json")])
    assert status == 0
    assert [body for _, body in server.requests] == [EVENT.body]


def test_a_port_beside_a_url_is_refused_rather_than_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--port", "8000", "--url", "http://127.0.0.1:8000/v1/segment", "--key", "k3y", "-"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_nothing_listening_is_said_at_once_rather_than_retried_for_every_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type":"identify"}\n{"type":"track"}\n')
    with ScriptedServer([]) as server:
        port = server.server.server_address[1]
    started = time.monotonic()
    status = main(["--port", str(port), "--key", "k3y", str(events)])
    assert status == 1
    assert time.monotonic() - started < 1
    error = capsys.readouterr().err
    assert f"nothing answers at http://127.0.0.1:{port}/v1/segment" in error
    assert f"is `make run` running, with PORT={port}?" in error


def test_files_hold_events_batches_arrays_or_json_lines(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_bytes(b'{"type":"identify","userId":"u1","userId":"u2"}')
    (tmp_path / "batch.json").write_text(json.dumps({"batch": [{"type": "track"}, {"type": "page"}]}))
    (tmp_path / "array.json").write_text(json.dumps([{"type": "alias"}]))
    (tmp_path / "lines.jsonl").write_text('{"type":"group"}\n\n{"type":"screen"}\n')
    names = ["one.json", "batch.json", "array.json", "lines.jsonl"]
    events = list(read_events(str(tmp_path / name) for name in names))
    assert events[0].body == b'{"type":"identify","userId":"u1","userId":"u2"}'
    assert [json.loads(event.body)["type"] for event in events[1:]] == ["track", "page", "alias", "group", "screen"]
    assert events[-1].origin.endswith("lines.jsonl:3")


def test_the_command_prints_outcomes_and_a_summary_and_fails_on_a_rejection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"type":"identify"}\n{"type":"track"}\n')
    with ScriptedServer([400]) as server:
        status = main(["--url", server.url, "--key", "k3y", str(events)])
    output = capsys.readouterr().out
    assert status == 1
    assert "FAIL 400" in output and "status 400" in output
    assert "ok   200" in output
    assert "2 events: 1 x 200, 1 x 400; 0 retries" in output
