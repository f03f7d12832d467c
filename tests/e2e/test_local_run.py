"""`make run` end to end: the emulator and `chalice local` in subprocesses, over real HTTP."""

import json
import os
import re
import signal
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.keys import DISABLED, hash_key
from tests.aws import basic_auth
from tests.e2e.conftest import (
    DEMO_KEY,
    REPO,
    RUNNER,
    LocalRun,
    Terminals,
    free_port,
    make_command,
    run_command,
    start_local_run,
)
from tools.run_local import POLL_SECONDS, port_is_free

SAMPLES = REPO / "samples" / "events.jsonl"


def post(run: LocalRun, authorization: str | None, event: dict[str, object]) -> requests.Response:
    headers = {"Content-Type": "application/json", "User-Agent": "Segment.io/1.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(run.endpoint, data=json.dumps(event), headers=headers, timeout=10)


def test_the_banner_curl_sends_an_identify_that_is_answered_200_and_published(local_run: LocalRun) -> None:
    [curl] = [line.strip() for line in local_run.banner.splitlines() if line.strip().startswith("curl ")]
    result = run_command(["bash", "-c", curl], timeout=30)
    assert re.search(r"^HTTP/1\.[01] 200", result.stdout, re.MULTILINE), result.stdout
    message_id = json.loads(result.stdout.rsplit("\n", 1)[-1])["messageId"]
    assert message_id in local_run.published("identify")


def test_the_banner_names_the_url_and_the_demo_key(local_run: LocalRun) -> None:
    assert local_run.endpoint in local_run.banner
    assert DEMO_KEY in local_run.banner


def expected_by_type() -> dict[str, set[str]]:
    """The sample file's messageIds by type, read with the contract's spellings in mind."""
    expected: dict[str, set[str]] = defaultdict(set)
    for line in SAMPLES.read_text().splitlines():
        event = {re.sub(r"[\s_-]", "", key).lower(): value for key, value in json.loads(line).items()}
        expected[str(event.get("type") or event["action"]).lower()].add(event["messageid"])
    return expected


def test_the_demo_events_of_every_type_land_in_their_topics_queues(local_run: LocalRun) -> None:
    sent = run_command(
        [sys.executable, "-m", "tools.send", "--url", local_run.endpoint, "--key", DEMO_KEY, str(SAMPLES)], timeout=60
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    expected = expected_by_type()
    assert set(expected) == {"identify", "track", "page", "screen", "group", "alias", "delete"}
    for event_type, message_ids in expected.items():
        assert set(local_run.published(event_type)) == message_ids


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer abc", "Basic %%%", basic_auth("unknown-key")],
    ids=["no header", "not Basic", "not base64", "unknown key"],
)
def test_refused_credentials_are_a_401_answer_not_a_dropped_connection(
    local_run: LocalRun, authorization: str | None
) -> None:
    response = post(local_run, authorization, {"type": "identify", "userId": "u1"})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_disabled_key_is_a_403_over_http(local_run: LocalRun) -> None:
    keys = local_run.keys()
    key = keys.create("77")
    keys.set_status(hash_key(key), DISABLED)
    assert post(local_run, basic_auth(key), {"type": "identify", "userId": "u1"}).status_code == 403


def test_an_allowed_keys_decision_is_kept_for_its_ttl_as_api_gateway_keeps_it(local_run: LocalRun) -> None:
    # GIVEN a key allowed once
    keys = local_run.keys()
    key = keys.create("78")
    assert post(local_run, basic_auth(key), {"type": "identify", "userId": "u1"}).status_code == 200
    # WHEN it is disabled, THEN the gateway's kept decision still lets it through (for 5 minutes, as in AWS)
    keys.set_status(hash_key(key), DISABLED)
    assert post(local_run, basic_auth(key), {"type": "identify", "userId": "u1"}).status_code == 200


def test_sigterm_frees_everything_and_a_second_run_starts_on_the_same_ports() -> None:
    port, aws_port = free_port(), free_port()
    first = start_local_run(port, aws_port)
    assert first.stop(signal.SIGTERM) == 0
    assert port_is_free(port) and port_is_free(aws_port)
    second = start_local_run(port, aws_port)
    try:
        assert post(second, basic_auth(DEMO_KEY), {"type": "identify", "userId": "u1"}).status_code == 200
    finally:
        second.stop()


def identify(client: requests.Session, run: LocalRun, key: str) -> str:
    """Send an identify as Segment does, on `client`'s kept-alive connection; its messageId."""
    response = client.post(
        run.endpoint,
        json={"type": "identify", "userId": "u1"},
        headers={"Authorization": basic_auth(key), "User-Agent": "Segment.io/1.0"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    message_id: str = response.json()["messageId"]
    return message_id


def printed_message_ids(text: str) -> set[str]:
    """The messageIds in what `make tail` printed."""
    return set(re.findall(r"messageId (\S+)", text))


def held_by_closed_connections(port: int) -> bool:
    """Whether connections of a stopped server still hold `port` (TIME-WAIT): a plain bind fails."""
    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_make_run_starts_again_at_once_after_a_run_that_had_clients_connected(terminals: Terminals) -> None:
    """Clients still connected when `make run` stops (Segment's kept-alive connection, a browser,
    `make tail`) leave the service's port in TIME-WAIT for a minute; the next run starts all the same."""
    port, aws_port = free_port(), free_port()
    first = terminals.make_run(port, aws_port)
    tail = terminals.make(f"make tail AWS_PORT={aws_port}")
    with requests.Session() as segment:
        message_id = identify(segment, first, "emma-local-demo-key")
        tail.read_until(lambda text: message_id in printed_message_ids(text), timeout=30)
        first.stop()
    assert held_by_closed_connections(port)
    second = terminals.make_run(port, aws_port)
    with requests.Session() as segment:
        assert identify(segment, second, "emma-local-demo-key") in second.published("identify")


def test_the_port_probe_lets_time_wait_pass_but_not_a_listener() -> None:
    """Whether a run leaves a port in TIME-WAIT depends on which side of each connection closes
    first; a server that closes first leaves it so every time."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = server.accept()
            accepted.close()  # the server closes first, as when a run stops under a connected client
        assert not port_is_free(port)
    assert held_by_closed_connections(port)
    assert port_is_free(port)


def test_the_banners_commands_reach_a_run_on_other_ports_as_printed(terminals: Terminals) -> None:
    """Every event the printed `curl` and `make demo` send shows in the printed `make tail`: all three
    reached this run, not the default ports (where another run may well be listening)."""
    run = terminals.make_run(free_port(), free_port(), demo_key=DEMO_KEY)
    commands = [line.strip() for line in run.banner.splitlines() if line.startswith("  ")]
    [curl] = [command for command in commands if command.startswith("curl ")]
    [demo] = [command for command in commands if command.startswith("make demo")]
    [tail_command] = [command for command in commands if command.startswith("make tail")]
    tail = terminals.make(tail_command)
    sent = run_command(make_command(demo), timeout=60)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    answer = run_command(["bash", "-c", curl], timeout=30).stdout
    expected = {json.loads(answer.rsplit("\n", 1)[-1])["messageId"]}.union(*expected_by_type().values())
    tail.read_until(lambda text: expected <= printed_message_ids(text), timeout=30)


@pytest.mark.parametrize(
    ("command", "complaint"),
    [
        ("make demo PORT={port}", "nothing answers at http://127.0.0.1:{port}/v1/segment"),
        ("make tail AWS_PORT={port}", "no AWS emulator answers at http://127.0.0.1:{port}"),
    ],
    ids=["make demo", "make tail"],
)
def test_demo_and_tail_say_at_once_that_nothing_answers_on_their_port(command: str, complaint: str) -> None:
    port = free_port()
    started = time.monotonic()
    result = run_command(make_command(command.format(port=port)), timeout=60)
    assert result.returncode != 0
    assert complaint.format(port=port) in result.stdout + result.stderr
    assert time.monotonic() - started < 10


def test_a_port_in_use_is_reported_instead_of_half_starting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = run_command([*RUNNER, "--port", str(busy), "--aws-port", str(free_port())], timeout=60)
    assert result.returncode == 1
    assert f"port {busy} is in use" in result.stdout


@pytest.fixture
def reloading_run() -> Iterator[LocalRun]:
    """The runner as `make run` starts it: restarting the service when the code changes."""
    run = start_local_run(reload=True)
    yield run
    run.stop()


def test_a_change_to_the_code_restarts_the_service_which_answers_again(reloading_run: LocalRun) -> None:
    # GIVEN a module of the service's code, and a run that has printed all it had to say
    module = REPO / "chalicelib" / "__init__.py"
    saved = module.stat()
    reloading_run.spawned.read_for(0)
    try:
        # WHEN the module is saved again
        os.utime(module, ns=(saved.st_atime_ns, time.time_ns()))
        # THEN the runner names it and starts the service again, which answers
        reloading_run.spawned.read_until(
            lambda text: "Serving on" in text.partition("reloading: chalicelib/__init__.py changed")[2], timeout=30
        )
        assert post(reloading_run, basic_auth(DEMO_KEY), {"type": "identify", "userId": "u1"}).status_code == 200
    finally:
        os.utime(module, ns=(saved.st_atime_ns, saved.st_mtime_ns))


def test_files_written_outside_the_code_do_not_restart_the_service(reloading_run: LocalRun) -> None:
    # GIVEN a run that has printed all it had to say
    reloading_run.spawned.read_for(0)
    # WHEN an install writes a hundred files under the project, as pip does in .venv and npm in node_modules
    with tempfile.TemporaryDirectory(dir=REPO, prefix=".e2e-install-") as installed:
        for number in range(100):
            (Path(installed) / f"module_{number}.py").write_text("VALUE = 1\n")
        # THEN three looks at the code later, nothing was restarted
        printed = reloading_run.spawned.read_for(3 * POLL_SECONDS)
    assert "reloading" not in printed
    assert "Serving on" not in printed
    assert post(reloading_run, basic_auth(DEMO_KEY), {"type": "identify", "userId": "u1"}).status_code == 200
