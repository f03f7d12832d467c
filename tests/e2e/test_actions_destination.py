"""The Segment Actions destination (`segment-actions/dist/index.js`) against `make run`'s service.

A node script (`actions_destination.js`) runs the built definition through actions-core's
`createTestIntegration`, the way Segment runs a destination: `testAuthentication` when a
customer saves the settings, `perform` for one event, `performBatch` for a batch, `onDelete`
for a deletion request. What each event became is read back from the tail queue of its topic.
"""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import DEMO_KEY, LocalRun, run_command

DRIVER = Path(__file__).with_name("actions_destination.js")
TYPES = ("identify", "track", "page", "screen", "group", "alias")


@pytest.fixture
def service(local_run: LocalRun, built: Path) -> LocalRun:
    """The session's `make run`, its tail queues emptied of what earlier tests left there."""
    for event_type in (*TYPES, "delete"):
        local_run.published(event_type)
    return local_run


def run_destination(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each call's outcome, from one run of the node script."""
    finished = run_command(["node", str(DRIVER)], timeout=60, stdin=json.dumps(calls))
    assert finished.returncode == 0, finished.stderr
    outcomes: list[dict[str, Any]] = json.loads(finished.stdout)
    return outcomes


def settings(service: LocalRun, key: str = DEMO_KEY) -> dict[str, str]:
    return {"apiKey": key, "endpoint": service.url}


def one_of_each(run_id: str) -> list[dict[str, Any]]:
    """An event of every type the presets subscribe to, with messageIds of this run."""
    extra: dict[str, dict[str, Any]] = {
        "track": {"event": "Order Completed", "properties": {"total": 29.0}},
        "page": {"name": "Pricing"},
        "screen": {"name": "Settings"},
        "group": {"groupId": "g-42", "traits": {"name": "Initech"}},
        "alias": {"previousId": "a-77"},
        "identify": {"traits": {"email": "peter@example.com"}},
    }
    return [
        {"type": event_type, "userId": "u-1001", "messageId": f"{run_id}-{event_type}", **extra[event_type]}
        for event_type in TYPES
    ]


def test_saving_the_settings_checks_the_key_with_emma(service: LocalRun) -> None:
    good, wrong = run_destination(
        [
            {"call": "testAuthentication", "settings": settings(service)},
            {"call": "testAuthentication", "settings": settings(service, "not-a-key-of-emma")},
        ]
    )

    assert good == {"ok": True}
    assert not wrong["ok"]
    assert wrong["error"]["message"].startswith("Credentials are invalid: 401")


def test_each_event_sent_alone_lands_on_its_topic_once(service: LocalRun) -> None:
    events = one_of_each(uuid.uuid4().hex)

    outcomes = run_destination([{"call": "testAction", "settings": settings(service), "event": e} for e in events])

    for event, outcome in zip(events, outcomes, strict=True):
        assert outcome["ok"], outcome
        assert [response["status"] for response in outcome["responses"]] == [200]
        assert outcome["responses"][0]["url"] == f"{service.url}/v1/segment"
        assert outcome["responses"][0]["body"] == {"messageId": event["messageId"]}
    for event in events:
        assert service.published(event["type"]) == [event["messageId"]]


def test_a_batch_lands_each_event_once_and_reports_the_one_emma_refused(service: LocalRun) -> None:
    run_id = uuid.uuid4().hex
    events = one_of_each(run_id)
    nobody = {"type": "identify", "userId": None, "anonymousId": None, "messageId": f"{run_id}-nobody"}
    batch = [*events[:3], nobody, *events[3:]]
    call = {"call": "testBatchAction", "settings": settings(service), "events": batch}

    # Segment resends a batch whose answer it did not get: the second delivery publishes nothing new.
    first, resent = run_destination([call, call])

    for outcome in (first, resent):
        assert outcome["ok"], outcome
        assert [response["url"] for response in outcome["responses"]] == [f"{service.url}/v1/batch"]
        statuses = [status["status"] for status in outcome["multistatus"]]
        assert statuses == [200, 200, 200, 400, 200, 200, 200]
        assert "userId" in outcome["multistatus"][3]["errormessage"]
    for event in events:
        assert service.published(event["type"]) == [event["messageId"]]
    assert service.published("identify") == []


def test_a_deletion_request_publishes_a_delete_event(service: LocalRun) -> None:
    user_id = f"u-{uuid.uuid4().hex}"

    (outcome,) = run_destination(
        [{"call": "onDelete", "settings": settings(service), "event": {"type": "delete", "userId": user_id}}]
    )

    assert outcome["ok"], outcome
    assert service.published("delete") == [outcome["body"]["messageId"]]


def test_a_wrong_key_publishes_nothing_and_is_not_retried(service: LocalRun) -> None:
    events = one_of_each(uuid.uuid4().hex)
    wrong = settings(service, "not-a-key-of-emma")

    single, batch = run_destination(
        [
            {"call": "testAction", "settings": wrong, "event": events[0]},
            {"call": "testBatchAction", "settings": wrong, "events": events},
        ]
    )

    # InvalidAuthenticationError, status 401: Segment does not retry it.
    assert single["error"]["name"] == "InvalidAuthenticationError"
    assert single["error"]["status"] == 401
    assert [status["status"] for status in batch["multistatus"]] == [401] * len(events)
    for event_type in TYPES:
        assert service.published(event_type) == []
