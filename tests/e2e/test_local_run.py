"""`make run` end to end: the emulator and `chalice local` in subprocesses, over real HTTP."""

import json
import re
import signal
import socket
import subprocess
import sys
from collections import defaultdict

import pytest
import requests

from chalicelib.keys import DISABLED, hash_key
from tests.aws import basic_auth
from tests.e2e.conftest import DEMO_KEY, REPO, RUNNER, LocalRun, free_port, start_local_run
from tools.run_local import port_is_free

SAMPLES = REPO / "samples" / "events.jsonl"


def post(run: LocalRun, authorization: str | None, event: dict[str, object]) -> requests.Response:
    headers = {"Content-Type": "application/json", "User-Agent": "Segment.io/1.0"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.post(run.endpoint, data=json.dumps(event), headers=headers, timeout=10)


def test_the_banner_curl_sends_an_identify_that_is_answered_200_and_published(local_run: LocalRun) -> None:
    [curl] = [line.strip() for line in local_run.banner.splitlines() if line.strip().startswith("curl ")]
    result = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30, check=True)
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
    sent = subprocess.run(
        [sys.executable, "-m", "tools.send", "--url", local_run.endpoint, "--key", DEMO_KEY, str(SAMPLES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_stopping_frees_everything_and_a_second_run_starts_on_the_same_ports(stop_signal: int) -> None:
    port, aws_port = free_port(), free_port()
    first = start_local_run(port, aws_port)
    assert first.stop(stop_signal) == 0
    assert port_is_free(port) and port_is_free(aws_port)
    second = start_local_run(port, aws_port)
    try:
        assert post(second, basic_auth(DEMO_KEY), {"type": "identify", "userId": "u1"}).status_code == 200
    finally:
        second.stop()


def test_a_port_in_use_is_reported_instead_of_half_starting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        result = subprocess.run(
            [*RUNNER, "--port", str(busy), "--aws-port", str(free_port())],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"port {busy} is in use" in result.stdout
